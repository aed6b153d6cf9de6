package push

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the push counters and histograms (registered when
// Config.Registerer is set, else kept unexported).
type metrics struct {
	sent          *prometheus.CounterVec
	notifications *prometheus.CounterVec
	installations *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skybridge_push_deliveries_total",
			Help: "Push deliveries by platform and outcome (sent, pruned, failed, deferred).",
		}, []string{"platform", "outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skybridge_push_notifications_total",
			Help: "Push notifications by event (queued, deduplicated).",
		}, []string{"event"}),
		installations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skybridge_push_installations_total",
			Help: "Installation changes by platform and event (registered, updated, deleted).",
		}, []string{"platform", "event"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skybridge_push_request_duration_seconds",
			Help:    "Duration of one request to APNs or FCM, by platform.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"platform"}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.sent, m.notifications, m.installations, m.duration} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				log.Warn("push: metrics not registered", "err", err)
			}
		}
	}
	return m
}
