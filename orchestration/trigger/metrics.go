package trigger

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts firings by trigger and outcome; nil counter when off.
type metrics struct {
	firings *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	if reg == nil {
		return &metrics{}
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skybridge",
		Subsystem: "trigger",
		Name:      "firings_total",
		Help:      "Trigger firings by trigger and outcome (enqueued, done, skipped, retry, failed, released).",
	}, []string{"trigger", "outcome"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return &metrics{firings: existing}
			}
		}
		log.Warn("trigger: metrics not registered", "err", err)
		return &metrics{}
	}
	return &metrics{firings: c}
}

func (m *metrics) count(trigger, outcome string) {
	if m.firings != nil {
		m.firings.WithLabelValues(trigger, outcome).Inc()
	}
}
