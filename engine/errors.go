package engine

import "errors"

// Sentinel errors callers act on.
var (
	ErrNoTable       = errors.New("no such table")
	ErrNoColumn      = errors.New("no such column")
	ErrNoWorkspace   = errors.New("no such workspace")
	ErrReserved      = errors.New("reserved column")
	ErrInvalidOp     = errors.New("invalid operation")
	ErrUnknownPerson = errors.New("no person has these identifiers")
)
