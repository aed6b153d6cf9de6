package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Checkpoint is a signed statement that position N of Chain had hash Hash
// at Time. It anchors the chain head (a truncated tail no longer reaches
// it) and, after Prune, the chain start.
type Checkpoint struct {
	Chain string    `json:"chain"`
	N     int64     `json:"n"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	// Pruned marks the anchor Prune writes for the newest record it
	// removed: only such a checkpoint may stand in for missing records
	// at the start of a chain.
	Pruned bool   `json:"pruned,omitempty"`
	MAC    string `json:"mac"`
}

// mac is HMAC-SHA256 over the checkpoint's fields, each length-prefixed so
// that no two field lists encode alike.
func (s *Service) mac(c Checkpoint) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	for _, f := range []string{"skybridge-audit-checkpoint-v1", c.Chain, strconv.FormatInt(c.N, 10), c.Hash, store.FormatTime(c.Time), strconv.FormatBool(c.Pruned)} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// validMAC compares in constant time.
func (s *Service) validMAC(c Checkpoint) bool {
	want, err := hex.DecodeString(c.MAC)
	if err != nil {
		return false
	}
	got, _ := hex.DecodeString(s.mac(c))
	return hmac.Equal(want, got)
}

// writeCheckpoint signs and stores a checkpoint. Another writer having
// signed the same position already is success.
func (s *Service) writeCheckpoint(ctx context.Context, chain string, n int64, hash string, pruned bool) error {
	c := Checkpoint{Chain: chain, N: n, Hash: hash, Time: s.now().UTC().Truncate(time.Microsecond), Pruned: pruned}
	c.MAC = s.mac(c)
	id := recordID(chain, n)
	if pruned {
		id = "pruned:" + id
	}
	_, err := s.checkpoints.Insert(ctx, store.Doc{
		store.FieldID: id,
		"chain":       c.Chain,
		"n":           c.N,
		"hash":        c.Hash,
		"time":        store.FormatTime(c.Time),
		"pruned":      c.Pruned,
		"mac":         c.MAC,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("audit: write checkpoint %s: %w", id, err)
	}
	return nil
}

func checkpointFromDoc(d store.Doc) (Checkpoint, error) {
	x := &docReader{d: d}
	c := Checkpoint{
		Chain: x.str(d["chain"], "chain"),
		N:     int64(x.num(d["n"], "n")),
		Hash:  x.str(d["hash"], "hash"),
		MAC:   x.str(d["mac"], "mac"),
	}
	if p, ok := d["pruned"].(bool); ok {
		c.Pruned = p
	} else if d["pruned"] != nil && x.bad == "" {
		x.bad = "pruned"
	}
	t, err := time.Parse(store.TimeFormat, x.str(d["time"], "time"))
	if err != nil && x.bad == "" {
		x.bad = "time"
	}
	c.Time = t
	if x.bad != "" {
		return c, fmt.Errorf("%w: checkpoint %v: field %q has the wrong type", ErrCorrupt, d[store.FieldID], x.bad)
	}
	return c, nil
}

// latestCheckpoint returns the chain's newest checkpoint with a valid
// MAC, or nil. It reads from the newest down, a page at a time.
func (s *Service) latestCheckpoint(ctx context.Context, chain string) (*Checkpoint, error) {
	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n", Desc: true}},
		Limit:  16,
	}
	for {
		p, err := s.checkpoints.Find(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoints of chain %q: %w", chain, err)
		}
		for _, d := range p.Docs {
			if c, err := checkpointFromDoc(d); err == nil && s.validMAC(c) {
				return &c, nil
			}
		}
		if p.Cursor == "" {
			return nil, nil
		}
		q.Cursor = p.Cursor
	}
}

// listCheckpoints returns a chain's checkpoints in position order,
// including any whose MAC does not verify (Verify reports those).
func (s *Service) listCheckpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	q := store.Query{
		Filter: store.Compare{Path: "chain", Op: store.OpEq, Value: chain},
		Sort:   []store.SortKey{{Path: "n"}},
		Limit:  store.MaxLimit,
	}
	var out []Checkpoint
	for {
		p, err := s.checkpoints.Find(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoints of chain %q: %w", chain, err)
		}
		for _, d := range p.Docs {
			c, err := checkpointFromDoc(d)
			if err != nil {
				c.MAC = "" // undecodable: reported as an invalid signature
			}
			out = append(out, c)
		}
		if p.Cursor == "" {
			return out, nil
		}
		q.Cursor = p.Cursor
	}
}
