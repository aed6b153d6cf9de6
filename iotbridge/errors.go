package iotbridge

import "errors"

// Sentinel errors of the package. Errors returned by the Service wrap
// them with context; test with errors.Is. Only the api package turns them
// into HTTP statuses.
var (
	// ErrNotFound: no such device, shadow or command, or one the caller
	// may not see.
	ErrNotFound = errors.New("iotbridge: not found")
	// ErrExists: a device with that id is registered already (in any app:
	// device ids are unique across the server).
	ErrExists = errors.New("iotbridge: device id taken")
	// ErrInvalid: a request carries a value the bridge refuses.
	ErrInvalid = errors.New("iotbridge: invalid input")
	// ErrForbidden: the caller is known but may not do this (a user
	// registering a device, or writing to a device he may only read).
	ErrForbidden = errors.New("iotbridge: forbidden")
	// ErrVersionConflict: a shadow update names a version that is not the
	// shadow's current one.
	ErrVersionConflict = errors.New("iotbridge: version conflict")
	// ErrTooLarge: a shadow document would exceed Config.ShadowMaxBytes.
	ErrTooLarge = errors.New("iotbridge: shadow document too large")
	// ErrFinished: a command reply arrived for a command that already
	// succeeded, failed or expired.
	ErrFinished = errors.New("iotbridge: command already finished")
)
