package deploy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxPathLen bounds the length of a bundle file's path, in bytes.
const MaxPathLen = 512

// FileField names a bundle file in errors, as a request field:
// files["flows/orders.yaml"].
func FileField(path string) string { return fmt.Sprintf("files[%q]", path) }

// checkBundle refuses a bundle this package cannot store, before the
// Builder sees it: no files, too many, too large (ErrTooLarge), a path that
// is not a clean relative one ending in .yaml or .yml, or text that is not
// UTF-8. Every refused file is named.
func (s *Service) checkBundle(files map[string]string) error {
	switch {
	case len(files) == 0:
		return invalid("files", "a bundle needs at least one file")
	case len(files) > s.cfg.MaxBundleFiles:
		return invalid("files", "%d files; a bundle has at most %d", len(files), s.cfg.MaxBundleFiles)
	}
	total := 0
	paths := make([]string, 0, len(files))
	for p, text := range files {
		total += len(p) + len(text)
		paths = append(paths, p)
	}
	if total > s.cfg.MaxBundleBytes {
		return &InputError{Field: "files", Err: fmt.Errorf("%w: the bundle has %d bytes; the limit is %d", ErrTooLarge, total, s.cfg.MaxBundleBytes)}
	}
	sort.Strings(paths)
	var errs []error
	for _, p := range paths {
		if err := checkPath(p); err != nil {
			errs = append(errs, invalid(FileField(p), "%s", err))
			continue
		}
		if !utf8.ValidString(files[p]) {
			errs = append(errs, invalid(FileField(p), "the text is not UTF-8"))
		}
	}
	return errors.Join(errs...)
}

// checkPath accepts a relative path with forward slashes, no empty, "." or
// ".." segments, no control characters or backslashes, ending in .yaml or
// .yml.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("the path is empty")
	case len(p) > MaxPathLen:
		return fmt.Errorf("the path is longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return errors.New("the path is not UTF-8")
	case strings.ContainsRune(p, '\\'):
		return errors.New("the path has a backslash; use forward slashes")
	case strings.HasPrefix(p, "/"):
		return errors.New("the path must be relative")
	}
	for _, r := range p {
		if r < ' ' || r == 0x7f {
			return errors.New("the path has a control character")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("the path has an empty, \".\" or \"..\" segment")
		}
	}
	if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
		return errors.New("the file must end in .yaml or .yml")
	}
	return nil
}

// filesToDoc stores a bundle as a list sorted by path: paths hold '.',
// which store field names may not.
func filesToDoc(files map[string]string) []any {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]any, 0, len(paths))
	for _, p := range paths {
		out = append(out, map[string]any{"path": p, "text": files[p]})
	}
	return out
}

func filesFromDoc(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("files is %T, not a list", v)
	}
	out := make(map[string]string, len(list))
	for i, e := range list {
		m, _ := e.(map[string]any)
		p, ok1 := m["path"].(string)
		text, ok2 := m["text"].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("files[%d] is not a path and a text", i)
		}
		out[p] = text
	}
	return out, nil
}
