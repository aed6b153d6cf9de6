package analytics

import (
	"sort"

	"github.com/skybridgehq/skybridge/store"
)

// group keys one aggregate: an event name on a day, for one app version
// and platform.
type group struct {
	Day, Event, AppVersion, Platform string
}

// tally is the aggregate of one group: how many events, and the distinct
// sessions and users behind them (bounded by Config.MaxDistinct). A folded
// day keeps only the numbers of distinct ids (nSessions, nUsers), so that
// its document stays small; no part of that day is ever merged with them.
type tally struct {
	count     int64
	sessions  map[string]struct{}
	users     map[string]struct{}
	nSessions int64
	nUsers    int64
}

// distinct returns the distinct sessions and users of x.
func (x *tally) distinct() (sessions, users int64) {
	return int64(len(x.sessions)) + x.nSessions, int64(len(x.users)) + x.nUsers
}

// tallies aggregates parts by group.
type tallies map[group]*tally

func (t tallies) get(g group) *tally {
	x := t[g]
	if x == nil {
		x = &tally{sessions: map[string]struct{}{}, users: map[string]struct{}{}}
		t[g] = x
	}
	return x
}

func addBounded(set map[string]struct{}, id string, max int) {
	if id != "" && len(set) < max {
		set[id] = struct{}{}
	}
}

// merge adds one stored part into t, when keep accepts its group.
func (t tallies) merge(p store.Doc, max int, keep func(group) bool) {
	g := group{Day: str(p["day"]), Event: str(p["event"]), AppVersion: str(p["appVersion"]), Platform: str(p["platform"])}
	if keep != nil && !keep(g) {
		return
	}
	x := t.get(g)
	n, _ := store.Int64(p["count"])
	x.count += n
	if n, ok := store.Int64(p["sessions"]); ok { // a folded day
		x.nSessions += n
	}
	if n, ok := store.Int64(p["users"]); ok {
		x.nUsers += n
	}
	for _, s := range strs(p["sessions"]) {
		addBounded(x.sessions, s, max)
	}
	for _, u := range strs(p["users"]) {
		addBounded(x.users, u, max)
	}
}

// groups returns t's keys in day, event, version, platform order.
func (t tallies) groups() []group {
	gs := make([]group, 0, len(t))
	for g := range t {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Event != b.Event {
			return a.Event < b.Event
		}
		if a.AppVersion != b.AppVersion {
			return a.AppVersion < b.AppVersion
		}
		return a.Platform < b.Platform
	})
	return gs
}

// parts renders t as stored parts, in group order: with the sets of
// distinct ids for a batch, or (folded) with their sizes for a day.
func (t tallies) parts(folded bool) []any {
	out := make([]any, 0, len(t))
	for _, g := range t.groups() {
		x := t[g]
		p := store.Doc{"day": g.Day, "event": g.Event, "appVersion": g.AppVersion, "platform": g.Platform, "count": x.count}
		if folded {
			p["sessions"], p["users"] = x.distinct()
			out = append(out, p)
			continue
		}
		if len(x.sessions) > 0 {
			p["sessions"] = sortedSet(x.sessions)
		}
		if len(x.users) > 0 {
			p["users"] = sortedSet(x.users)
		}
		out = append(out, p)
	}
	return out
}

func sortedSet(set map[string]struct{}) []any {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

// docParts returns the parts of a stored batch or day document.
func docParts(d store.Doc) []store.Doc {
	raw, _ := d["parts"].([]any)
	out := make([]store.Doc, 0, len(raw))
	for _, r := range raw {
		if p, ok := r.(map[string]any); ok {
			out = append(out, p)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	raw, _ := v.([]any)
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		if s, ok := r.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
