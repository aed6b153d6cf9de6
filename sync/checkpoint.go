package sync

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// checkpointPrefix versions the checkpoint encoding, so a later one can
// coexist.
const checkpointPrefix = "c1."

// encodeCheckpoint makes the opaque checkpoint after _seq seq.
func encodeCheckpoint(seq int64) string {
	return checkpointPrefix + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(seq, 10)))
}

// decodeCheckpoint reads a checkpoint; "" is the start of the feed.
func decodeCheckpoint(field, cp string) (int64, error) {
	if cp == "" {
		return 0, nil
	}
	raw, ok := strings.CutPrefix(cp, checkpointPrefix)
	if !ok || len(raw) > 32 {
		return 0, invalid(field, "not a checkpoint this server issued")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return 0, invalid(field, "not a checkpoint this server issued")
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, invalid(field, "not a checkpoint this server issued")
	}
	return n, nil
}
