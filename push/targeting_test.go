package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/push"
)

func TestTargetingByUsersInstallationsTopicsAndSegments(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	devs := []device{
		{platform: push.PlatformAndroid, token: fcmToken(0), user: "ann", locale: "de", topics: []string{"a"}},
		{platform: push.PlatformAndroid, token: fcmToken(1), user: "ann", locale: "en"},
		{platform: push.PlatformAndroid, token: fcmToken(2), user: "bob", locale: "de-AT", topics: []string{"b"}},
		{platform: push.PlatformWeb, token: fcmToken(3), locale: "fr"},
		{platform: push.PlatformAndroid, token: fcmToken(4), user: "cid", locale: "en", topics: []string{"a", "b"}},
	}
	var ids []string
	for _, d := range devs {
		ids = append(ids, r.register(t, d).ID)
	}
	for _, tt := range []struct {
		name   string
		target push.Target
		want   []int
	}{
		{"users", push.Target{Users: []string{"ann"}}, []int{0, 1}},
		{"installations", push.Target{Installations: []string{ids[3], ids[2]}}, []int{2, 3}},
		{"topics", push.Target{Topics: []string{"b"}}, []int{2, 4}},
		{"segment", push.Target{Segment: json.RawMessage(`{"locale": {"$regex": "^de"}}`)}, []int{0, 2}},
		{"segment on platform", push.Target{Segment: json.RawMessage(`{"platform": "web"}`)}, []int{3}},
		{"union", push.Target{Users: []string{"bob"}, Topics: []string{"a"}}, []int{0, 2, 4}},
	} {
		before := map[int]int{}
		for i := range devs {
			before[i] = r.fcm.Count(devs[i].token)
		}
		id := r.send(t, push.SendRequest{Target: tt.target, Notification: push.Notification{Title: tt.name}})
		st := r.waitDone(t, id)
		if st.Counts.Sent != int64(len(tt.want)) || st.Counts.Targeted != int64(len(tt.want)) {
			t.Errorf("%s: status %+v, want %d sent", tt.name, st, len(tt.want))
		}
		wanted := map[int]bool{}
		for _, i := range tt.want {
			wanted[i] = true
		}
		for i := range devs {
			got := r.fcm.Count(devs[i].token) - before[i]
			if (got == 1) != wanted[i] || got > 1 {
				t.Errorf("%s: device %d got %d requests", tt.name, i, got)
			}
		}
	}
}

func TestLocalizedTemplates(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	for i, loc := range []string{"de-AT", "en_US", "fr", "pt-BR", ""} {
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), locale: loc, topics: []string{"t"}})
	}
	r.register(t, device{platform: push.PlatformIOS, token: iosToken(0), locale: "pt-BR", topics: []string{"t"}})
	id := r.send(t, push.SendRequest{
		Target:       push.Target{Topics: []string{"t"}},
		Notification: push.Notification{Title: "Fallback {{name}}", Body: "body"},
		Template: push.Template{
			"de":      {Title: "Hallo {{name}}", Body: "Dein Warenkorb: {{ count }} Artikel"},
			"en-US":   {Title: "Hi {{name}}"},
			"pt-BR":   {Title: "Olá {{name}}", Body: "{{missing}}x"},
			"default": {Title: "Hello {{name}}"},
		},
		Vars: map[string]any{"name": "Ann", "count": 3},
	})
	r.waitDone(t, id)
	for i, want := range [][2]string{{"Hallo Ann", "Dein Warenkorb: 3 Artikel"}, {"Hi Ann", "body"}, {"Hello Ann", "body"}, {"Olá Ann", "x"}, {"Hello Ann", "body"}} {
		req, _ := r.fcm.Last(fcmToken(i))
		n, _ := req.Body["notification"].(map[string]any)
		if n["title"] != want[0] || n["body"] != want[1] {
			t.Errorf("device %d: %v, want %v", i, n, want)
		}
	}
	req, _ := r.apns.Last(iosToken(0))
	alert := req.Body["aps"].(map[string]any)["alert"].(map[string]any)
	if alert["title"] != "Olá Ann" || alert["body"] != "x" {
		t.Errorf("APNs alert %v", alert)
	}
}

func TestScheduledAndLocalTimeSends(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	// Wall clocks in three zones, Tokyo (UTC+9), Paris (UTC+1 in winter)
	// and New York (UTC-5 in winter), and one installation without a zone
	// (UTC), in the order they come due.
	zones := []string{"Asia/Tokyo", "Europe/Paris", "", "America/New_York"}
	for i, tz := range zones {
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), tz: tz, topics: []string{"t"}})
	}
	// Put the clock at 2030-01-10 00:00 UTC: 09:00 in Tokyo.
	target := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	r.clock.advance(time.Until(target))
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "Good morning"}, ScheduleAt: "2030-01-10T09:00:00", LocalTime: true})
	step := func(sent int64) {
		t.Helper()
		r.waitStatus(t, id, "at step", func(s push.Status) bool { return s.Counts.Sent == sent })
		for i := range zones {
			want := 0
			if int64(i) < sent {
				want = 1
			}
			if n := r.fcm.Count(fcmToken(i)); n != want {
				t.Errorf("after %d sent: %s got %d requests", sent, zones[i], n)
			}
		}
	}
	step(1)                        // Tokyo at once
	r.clock.advance(8 * time.Hour) // 08:00 UTC: 09:00 in Paris
	step(2)
	r.clock.advance(time.Hour) // 09:00 UTC: the installation without a zone
	step(3)
	r.clock.advance(5 * time.Hour) // 14:00 UTC: 09:00 in New York
	step(4)
	st := r.waitDone(t, id)
	if st.Status != push.StatusDone || st.Timing.ScheduledAt != "2030-01-10T09:00:00" {
		t.Errorf("status %+v", st)
	}

	// A UTC schedule: nothing before it, everything at it.
	id = r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "Later"}, ScheduleAt: r.clock.now().Add(time.Hour).UTC().Format(time.RFC3339)})
	st = r.waitStatus(t, id, "planned", func(s push.Status) bool { return s.Counts.Targeted == 4 })
	if st.Counts.Pending != 4 || st.Status == push.StatusDone {
		t.Errorf("before its time: %+v", st)
	}
	r.clock.advance(61 * time.Minute)
	if st := r.waitDone(t, id); st.Counts.Sent != 4 {
		t.Errorf("after its time: %+v", st)
	}
	for i := range zones {
		if n := r.fcm.Count(fcmToken(i)); n != 2 {
			t.Errorf("%s got %d requests, want 2", zones[i], n)
		}
	}
}

func TestDedupeKeySendsOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	r.register(t, device{platform: push.PlatformIOS, token: iosToken(0), topics: []string{"t"}})
	req := push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}, DedupeKey: "cart-42-reminder"}
	a, b := r.send(t, req), r.send(t, req)
	if a != b {
		t.Fatalf("ids %s and %s", a, b)
	}
	r.waitDone(t, a)
	if n := r.apns.Count(iosToken(0)); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestInstallationsUpsertAndValidation(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	ctx := context.Background()
	a := r.register(t, device{platform: push.PlatformIOS, token: iosToken(0), user: "ann", topics: []string{"x"}})
	b := r.register(t, device{platform: push.PlatformIOS, token: iosToken(0), user: "bob", locale: "de"})
	if a.ID != b.ID || b.UserID != "bob" || b.Locale != "de" || len(b.Topics) != 1 {
		t.Fatalf("upsert: %+v then %+v", a, b)
	}
	if _, err := r.svc.Update(ctx, r.env, "ann", false, a.ID, push.InstallationInput{}); !errors.Is(err, push.ErrForbidden) {
		t.Errorf("ann changed bob's installation: %v", err)
	}
	topics := []string{"y", "z", "y"}
	up, err := r.svc.Update(ctx, r.env, "bob", false, a.ID, push.InstallationInput{Topics: &topics})
	if err != nil || len(up.Topics) != 2 {
		t.Errorf("update: %+v %v", up, err)
	}
	anon := r.register(t, device{platform: push.PlatformWeb, token: fcmToken(9)})
	if err := r.svc.Delete(ctx, r.env, "", false, anon.ID); err != nil {
		t.Errorf("delete anonymous: %v", err)
	}
	if err := r.svc.Delete(ctx, r.env, "", false, anon.ID); !errors.Is(err, push.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	str := func(s string) *string { return &s }
	long := make([]string, push.MaxTopics+1)
	for i := range long {
		long[i] = "t"
	}
	for _, tt := range []struct {
		in    push.InstallationInput
		field string
	}{
		{push.InstallationInput{Platform: "blackberry", Token: "x"}, "platform"},
		{push.InstallationInput{Platform: "ios", Token: ""}, "token"},
		{push.InstallationInput{Platform: "ios", Token: "not-hex-not-hex-not-hex-not-hex-not-hex"}, "token"},
		{push.InstallationInput{Platform: "android", Token: "short"}, "token"},
		{push.InstallationInput{Platform: "android", Token: "has spaces in the token, no"}, "token"},
		{push.InstallationInput{Platform: "ios", Token: iosToken(1), Topics: &[]string{"ok", "bad topic"}}, "topics[1]"},
		{push.InstallationInput{Platform: "ios", Token: iosToken(1), Topics: &long}, "topics"},
		{push.InstallationInput{Platform: "ios", Token: iosToken(1), Timezone: str("Mars/Olympus")}, "timezone"},
		{push.InstallationInput{Platform: "ios", Token: iosToken(1), Locale: str("english please")}, "locale"},
	} {
		_, err := r.svc.Register(ctx, r.env, "", tt.in)
		var fe *push.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, push.ErrInvalid) {
			t.Errorf("%+v: %v, want an error on %s", tt.in, err, tt.field)
		}
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	n := push.Notification{Title: "x"}
	for _, tt := range []struct {
		req   push.SendRequest
		field string
	}{
		{push.SendRequest{Notification: n}, "target"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a b"}}, Notification: n}, "target.topics[0]"},
		{push.SendRequest{Target: push.Target{Segment: json.RawMessage(`{"token": "x"}`)}, Notification: n}, "target.segment"},
		{push.SendRequest{Target: push.Target{Segment: json.RawMessage(`{"$where": "1"}`)}, Notification: n}, "target.segment"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}}, "notification"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}, Notification: push.Notification{Title: "x", Priority: "urgent"}}, "notification.priority"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}, Notification: n, ScheduleAt: "tomorrow"}, "scheduleAt"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}, Notification: n, LocalTime: true}, "localTime"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}, Notification: n, Template: push.Template{"not a locale": {Title: "x"}}}, "template.not a locale"},
		{push.SendRequest{Target: push.Target{Topics: []string{"a"}}, Notification: push.Notification{Title: "x", Data: map[string]any{"aps": 1}}}, "notification.data.aps"},
	} {
		_, err := r.svc.Send(context.Background(), r.env, tt.req)
		var fe *push.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: %v, want an error on %s", tt.req, err, tt.field)
		}
	}
}
