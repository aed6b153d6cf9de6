package iotbridge

import (
	"strings"
	"testing"
)

func TestParseShadowTopic(t *testing.T) {
	t.Parallel()
	cases := []struct {
		topic string
		want  shadowTopic
		ok    bool
	}{
		{"$aws/things/t1/shadow/update", shadowTopic{"t1", "", "update"}, true},
		{"$aws/things/t1/shadow/get", shadowTopic{"t1", "", "get"}, true},
		{"$aws/things/t1/shadow/delete", shadowTopic{"t1", "", "delete"}, true},
		{"$aws/things/t1/shadow/name/cfg:1/update", shadowTopic{"t1", "cfg:1", "update"}, true},
		{"$aws/things/t1/shadow/update/accepted", shadowTopic{}, false},
		{"$aws/things/t1/shadow/name/a/b/update", shadowTopic{}, false},
		{"$aws/things/t1/shadow/name//update", shadowTopic{}, false},
		{"$aws/things/t 1/shadow/update", shadowTopic{}, false},
		{"$aws/things/t1/shadow/list", shadowTopic{}, false},
		{"skybridge/devices/t1/shadow/update", shadowTopic{}, false},
	}
	for _, tc := range cases {
		got, ok := parseShadowTopic(tc.topic)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.topic, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseReplyTopic(t *testing.T) {
	t.Parallel()
	if d, c, ok := parseReplyTopic("skybridge/devices/t1/commands/abc-1/reply"); !ok || d != "t1" || c != "abc-1" {
		t.Errorf("got %q %q %v", d, c, ok)
	}
	for _, bad := range []string{"skybridge/devices/t1/commands/abc", "skybridge/devices/t1/commands//reply", "skybridge/devices/t1/commands/a/reply/x", "x/devices/t1/commands/a/reply"} {
		if _, _, ok := parseReplyTopic(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestTopicPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		topic           string
		device, anonymo bool
	}{
		{"$aws/things/t1/shadow/update", true, false},
		{"$aws/things/t1/shadow/#", true, false},
		{"$aws/things/t1/#", true, false},
		{"skybridge/devices/t1/commands", true, false},
		{"skybridge/devices/t1/+/x", true, false},
		{"$share/g/skybridge/devices/t1/telemetry", true, false},
		{"$aws/things/t2/shadow/update", false, false},
		{"$aws/things/t1", false, false},
		{"$aws/things/t1/", false, false},
		{"$aws/things/+/shadow/update", false, false},
		{"$aws/things/#", false, false},
		{"skybridge/devices/t10/commands", false, false},
		{"skybridge/devices/+/commands", false, false},
		{"skybridge/#", false, false},
		{"#", false, false},
		{"+/devices/t1/commands", false, false},
		{"$SYS/broker/load", false, false},
		{"$share/g/#", false, false},
		{"sensors/kitchen", false, true},
		{"sensors/#", false, true},
		{"Skybridge/x", false, true},
	}
	for _, tc := range cases {
		if got := deviceMayUse("t1", tc.topic); got != tc.device {
			t.Errorf("device t1 on %s: %v, want %v", tc.topic, got, tc.device)
		}
		if got := anonymousMayUse(tc.topic); got != tc.anonymo {
			t.Errorf("anonymous on %s: %v, want %v", tc.topic, got, tc.anonymo)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "$aws/x", false},
		{"+/x", "$aws/x", false},
		{"$aws/things/t1/shadow/+/delta", "$aws/things/t1/shadow/update/delta", true},
		{"$aws/things/t1/shadow/name/+/update/delta", "$aws/things/t1/shadow/name/n/update/delta", true},
		{"a/+", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"$share/g/a/+", "a/b", true},
	}
	for _, tc := range cases {
		if got := filterMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("%s ~ %s: %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func FuzzTopics(f *testing.F) {
	for _, s := range []string{
		"$aws/things/t1/shadow/update", "$aws/things/t1/shadow/name/n/get", "skybridge/devices/t1/commands/c/reply",
		"$share/g/skybridge/devices/t1/#", "#", "+/+", "a//b", "$aws/things/t1/", "skybridge/devices/t1",
	} {
		f.Add(s, "t1")
	}
	f.Fuzz(func(t *testing.T, topic, device string) {
		if st, ok := parseShadowTopic(topic); ok {
			if !ValidDeviceID(st.device) || st.base()+"/"+st.op != topic {
				t.Fatalf("parsed %q into %+v", topic, st)
			}
			if !deviceMayUse(st.device, topic) {
				t.Fatalf("a device may not use its own shadow topic %q", topic)
			}
		}
		if d, c, ok := parseReplyTopic(topic); ok && commandsTopic(d)+"/"+c+"/reply" != topic {
			t.Fatalf("reply topic %q parsed into %q %q", topic, d, c)
		}
		if ValidDeviceID(device) && deviceMayUse(device, topic) {
			inner := stripShared(topic)
			if !strings.HasPrefix(inner, awsThingsPrefix+device+"/") && !strings.HasPrefix(inner, devicesPrefix+device+"/") {
				t.Fatalf("device %q allowed outside its namespaces: %q", device, topic)
			}
		}
		if anonymousMayUse(topic) {
			for _, reserved := range []string{"$aws/things/t1/shadow/update", "skybridge/devices/t1/commands"} {
				if filterMatches(topic, reserved) {
					t.Fatalf("anonymous filter %q reaches %q", topic, reserved)
				}
			}
		}
		_ = filterMatches(topic, topic)
	})
}
