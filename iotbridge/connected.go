package iotbridge

import (
	"context"
	"errors"
)

// Connected reports how many devices of app environment (appID, env)
// hold a live MQTT connection to this node's broker (a device with
// several connections counts once). It looks each connected device's
// environment up in the device index, which is cached, so a call costs
// one pass over the connected devices.
func (s *Service) Connected(ctx context.Context, appID, env string) (int, error) {
	s.connMu.Lock()
	ids := make([]string, 0, len(s.conns))
	for id := range s.conns {
		ids = append(ids, id)
	}
	s.connMu.Unlock()
	n := 0
	for _, id := range ids {
		e, err := s.locate(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, err
		}
		if e.AppID == appID && e.Name == env {
			n++
		}
	}
	return n, nil
}
