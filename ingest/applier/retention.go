package applier

import "time"

// DedupWindow returns how long message ids are remembered. Log retention
// must keep at least this much of the log before the point a replay starts
// from, so that replaying rebuilds the de-duplication state.
func (a *Applier) DedupWindow() time.Duration { return a.opts.DedupWindow }
