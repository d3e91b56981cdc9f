package retention

import "testing"

func TestPlan(t *testing.T) {
	ws := func(kv ...any) map[string]Workspace {
		m := map[string]Workspace{}
		for i := 0; i < len(kv); i += 3 {
			m[kv[i].(string)] = Workspace{TrimPoint: uint64(kv[i+1].(int)), LogSeq: uint64(kv[i+2].(int))}
		}
		return m
	}
	cases := []struct {
		name   string
		in     Input
		before uint64
		limit  string
		wsName string
		trim   bool
	}{
		{name: "empty stream", in: Input{WindowSeq: 1}, before: 0, limit: "last message"},
		{name: "no workspaces: applier and window",
			in:     Input{Applied: 80, WindowSeq: 90, FirstSeq: 1, LastSeq: 100},
			before: 81, limit: "applier", trim: true},
		{name: "workspace without snapshot holds everything",
			in:     Input{Workspaces: ws("acme", 0, 50, "beta", 90, 99), Applied: 100, WindowSeq: 101, FirstSeq: 1, LastSeq: 100},
			before: 1, limit: "workspace", wsName: "acme"},
		{name: "workspace without snapshot after an earlier trim",
			in:     Input{Workspaces: ws("acme", 0, 50), Applied: 100, WindowSeq: 101, FirstSeq: 30, LastSeq: 100},
			before: 30, limit: "workspace", wsName: "acme"},
		{name: "minimum over workspaces",
			in:     Input{Workspaces: ws("acme", 40, 60, "beta", 70, 90), Applied: 100, WindowSeq: 101, FirstSeq: 1, LastSeq: 100},
			before: 41, limit: "workspace", wsName: "acme", trim: true},
		{name: "ties name the first workspace",
			in:     Input{Workspaces: ws("b", 40, 60, "a", 40, 90, "c", 40, 41), Applied: 100, WindowSeq: 101, FirstSeq: 1, LastSeq: 100},
			before: 41, limit: "workspace", wsName: "a", trim: true},
		{name: "dedup window",
			in:     Input{Workspaces: ws("acme", 90, 95), Applied: 100, WindowSeq: 50, FirstSeq: 1, LastSeq: 100},
			before: 50, limit: "dedup window", trim: true},
		{name: "dedup window keeps everything",
			in:     Input{Workspaces: ws("acme", 90, 95), Applied: 100, WindowSeq: 1, FirstSeq: 1, LastSeq: 100},
			before: 1, limit: "dedup window"},
		{name: "applier lag",
			in:     Input{Workspaces: ws("acme", 20, 20), Applied: 20, WindowSeq: 200, FirstSeq: 1, LastSeq: 100},
			before: 21, limit: "applier", trim: true},
		{name: "applier has applied nothing since a restart",
			in:     Input{Workspaces: ws("acme", 90, 90), Applied: 0, WindowSeq: 200, FirstSeq: 50, LastSeq: 100},
			before: 50, limit: "applier"},
		{name: "idle workspace does not hold the trim",
			in:     Input{Workspaces: ws("acme", 90, 99, "quiet", 10, 10), Applied: 100, WindowSeq: 200, FirstSeq: 1, LastSeq: 100},
			before: 91, limit: "workspace", wsName: "acme", trim: true},
		{name: "workspace filled without the log (demo) does not hold the trim",
			in:     Input{Workspaces: ws("demo", 0, 0, "acme", 99, 99), Applied: 99, WindowSeq: 200, FirstSeq: 1, LastSeq: 99},
			before: 99, limit: "last message", trim: true},
		{name: "changed since its oldest snapshot: the snapshot holds",
			in:     Input{Workspaces: ws("acme", 80, 120), Applied: 100, WindowSeq: 200, FirstSeq: 1, LastSeq: 130},
			before: 81, limit: "workspace", wsName: "acme", trim: true},
		{name: "the last message is kept",
			in:     Input{Workspaces: ws("acme", 100, 100), Applied: 100, WindowSeq: 101, FirstSeq: 1, LastSeq: 100},
			before: 100, limit: "last message", trim: true},
		{name: "nothing new since the last trim",
			in:     Input{Workspaces: ws("acme", 100, 100), Applied: 100, WindowSeq: 101, FirstSeq: 100, LastSeq: 100},
			before: 100, limit: "last message"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Plan(c.in)
			if d.Before != c.before || d.Limit != c.limit || d.Workspace != c.wsName || d.Trim(c.in.FirstSeq) != c.trim {
				t.Errorf("Plan = %+v (trim %v), want before %d limit %q workspace %q trim %v",
					d, d.Trim(c.in.FirstSeq), c.before, c.limit, c.wsName, c.trim)
			}
		})
	}
}
