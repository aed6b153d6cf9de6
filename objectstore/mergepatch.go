package objectstore

// MergePatch applies an RFC 7396 JSON merge patch to target and returns the
// result: a null in the patch deletes the member, an object merges into
// the member recursively, and anything else (arrays included) replaces it.
// Neither argument is modified; the result shares with target the nested
// values the patch does not reach, so treat it as read-only or copy it.
func MergePatch(target, patch map[string]any) map[string]any {
	out, _ := mergeValue(target, patch).(map[string]any)
	return out
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, _ := target.(map[string]any)
	out := make(map[string]any, len(tm)+len(pm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergeValue(out[k], v)
	}
	return out
}
