package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// maxPushBatch bounds the changes of one push request.
const maxPushBatch = 200

type change struct {
	ID          string         `json:"id"`
	BaseVersion int64          `json:"baseVersion"`
	Doc         map[string]any `json:"doc,omitempty"`
	Deleted     bool           `json:"deleted,omitempty"`
	ClientTime  string         `json:"clientTime,omitempty"`
	ChangeID    string         `json:"changeId,omitempty"`
}

type pushAnswer struct {
	Applied []struct {
		ID  string `json:"id"`
		V   int64  `json:"_v"`
		Seq int64  `json:"_seq"`
	} `json:"applied"`
	Conflicts []struct {
		ID         string         `json:"id"`
		Server     map[string]any `json:"server"`
		Resolution string         `json:"resolution"`
	} `json:"conflicts"`
	Rejected []struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	} `json:"rejected"`
}

type pullAnswer struct {
	Collections map[string]struct {
		Documents  []map[string]any `json:"documents"`
		Checkpoint string           `json:"checkpoint"`
		HasMore    bool             `json:"hasMore"`
	} `json:"collections"`
}

// Sync pushes the local changes of col, then pulls the server's changes
// until there are no more. A change the server rejects (rules, schema) is
// dropped locally and the collection pulled from scratch, so the local
// copy returns to the server's state; Sync then returns the rejection.
func (c *Client) Sync(ctx context.Context, col string) error {
	rejected, err := c.Push(ctx, col)
	if err != nil {
		return err
	}
	if rejected != nil {
		if err := c.resync(ctx, col); err != nil {
			return err
		}
		return rejected
	}
	return c.Pull(ctx, col)
}

// Push sends the local changes of col. It returns the server's
// rejections (as one error) apart from failures.
func (c *Client) Push(ctx context.Context, col string) (rejected, err error) {
	dirty, err := c.local.rows(ctx, col, true)
	if err != nil {
		return nil, err
	}
	var rejections []string
	for len(dirty) > 0 {
		n := min(len(dirty), maxPushBatch)
		batch := dirty[:n]
		dirty = dirty[n:]
		sent := map[string]row{}
		req := struct {
			Collection string   `json:"collection"`
			Changes    []change `json:"changes"`
		}{Collection: col}
		for _, r := range batch {
			ch := change{ID: r.id, BaseVersion: r.base, ChangeID: r.changeID, ClientTime: r.clientTime}
			if r.deleted {
				ch.Deleted = true
			} else {
				ch.Doc = r.doc
				if ch.Doc == nil {
					ch.Doc = map[string]any{}
				}
			}
			req.Changes = append(req.Changes, ch)
			sent[r.id] = r
		}
		var ans pushAnswer
		if err := c.post(ctx, "/v1/sync/push", req, &ans); err != nil {
			return nil, err
		}
		for _, a := range ans.Applied {
			r := sent[a.ID]
			r.base, r.dirty = a.V, false
			if err := c.local.put(ctx, r); err != nil {
				return nil, err
			}
			if c.cfg.OnApplied != nil {
				c.cfg.OnApplied(col, a.ID, a.V)
			}
		}
		for _, cf := range ans.Conflicts {
			r := sent[cf.ID]
			if err := c.resolve(ctx, col, r, cf.Server, cf.Resolution); err != nil {
				return nil, err
			}
		}
		for _, rj := range ans.Rejected {
			rejections = append(rejections, rj.ID+": "+rj.Error)
			r := sent[rj.ID]
			r.dirty = false
			if err := c.local.put(ctx, r); err != nil {
				return nil, err
			}
		}
	}
	if len(rejections) > 0 {
		return errors.New("sync client: the server rejected " + strings.Join(rejections, "; ")), nil
	}
	return nil, nil
}

// resolve settles one conflict: the callback's content stays dirty on the
// server's version, or the server's document is adopted.
func (c *Client) resolve(ctx context.Context, col string, r row, server map[string]any, resolution string) error {
	var keep map[string]any
	if c.cfg.OnConflict != nil && resolution != "merged" {
		keep = c.cfg.OnConflict(Conflict{Collection: col, ID: r.id, Local: r.doc, Server: server, Resolution: resolution})
	}
	base := int64(0)
	if server != nil {
		base = version(server)
	}
	if keep != nil {
		r.doc, r.deleted, r.base, r.dirty, r.changeID = clone(keep), false, base, true, newChangeID()
		return c.local.put(ctx, r)
	}
	r.dirty, r.base = false, base
	if server == nil {
		r.doc, r.deleted = nil, true
	} else {
		r.doc, r.deleted = userFields(server), isDeleted(server)
	}
	return c.local.put(ctx, r)
}

// Pull pulls the server's changes of col after the local checkpoint until
// there are no more; a local change not pushed yet is kept. An expired
// checkpoint makes it pull from scratch.
func (c *Client) Pull(ctx context.Context, col string) error {
	err := c.pull(ctx, col)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusGone {
		return c.resync(ctx, col)
	}
	return err
}

// resync drops the acknowledged local copy of col and pulls it anew.
func (c *Client) resync(ctx context.Context, col string) error {
	if err := c.local.dropClean(ctx, col); err != nil {
		return err
	}
	if err := c.local.setCheckpoint(ctx, col, ""); err != nil {
		return err
	}
	return c.pull(ctx, col)
}

func (c *Client) pull(ctx context.Context, col string) error {
	for {
		cp, err := c.local.checkpoint(ctx, col)
		if err != nil {
			return err
		}
		spec := map[string]any{}
		if cp != "" {
			spec["checkpoint"] = cp
		}
		if c.cfg.PullLimit > 0 {
			spec["limit"] = c.cfg.PullLimit
		}
		var ans pullAnswer
		if err := c.post(ctx, "/v1/sync/pull", map[string]any{"collections": map[string]any{col: spec}}, &ans); err != nil {
			return err
		}
		b := ans.Collections[col]
		err = c.local.inTx(ctx, func(l *local) error {
			for _, d := range b.Documents {
				id, _ := d["_id"].(string)
				r, _, err := l.get(ctx, col, id)
				if err != nil {
					return err
				}
				if r.dirty {
					continue // pushed next time; the server decides the conflict
				}
				r.col, r.id, r.base = col, id, version(d)
				r.deleted = isDeleted(d)
				r.doc = nil
				if !r.deleted {
					r.doc = userFields(d)
				}
				if err := l.put(ctx, r); err != nil {
					return err
				}
			}
			return l.setCheckpoint(ctx, col, b.Checkpoint)
		})
		if err != nil {
			return err
		}
		if !b.HasMore {
			return nil
		}
	}
}

func version(d map[string]any) int64 {
	v, _ := d["_v"].(float64)
	return int64(v)
}

func isDeleted(d map[string]any) bool { b, _ := d["_deleted"].(bool); return b }

func userFields(d map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		if !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}
