package deploy

import "context"

// VersionFiles is one deployment of an environment with the files of its
// bundle (path → content), as the admin portal shows a version or diffs
// two.
type VersionFiles struct {
	Deployment
	Files map[string]string
}

// Version returns deployment version of environment (appID, env) with its
// files; ErrNotFound when there is no such version.
func (s *Service) Version(ctx context.Context, appID, env string, version int) (VersionFiles, error) {
	r, err := s.getRecord(ctx, appID, env, version)
	if err != nil {
		return VersionFiles{}, err
	}
	live, err := s.lastVersion(ctx, appID, env)
	if err != nil {
		return VersionFiles{}, err
	}
	r.d.Live = r.d.Version == live
	return VersionFiles{Deployment: r.d, Files: r.files}, nil
}
