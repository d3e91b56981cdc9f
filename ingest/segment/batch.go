package segment

import (
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest/norm"
)

// batch decodes a /v1/batch body. Its messages stay nodes of a pooled
// norm.Doc: building a map per message and per nested object, boxing every
// value and copying every string cost more than the conversion itself.
// The outcome is the one of Convert on each message's map, which remains
// the reference (batch_test.go checks them against each other; both parse
// the envelope with Doc.ParseEnvelope).
type batch struct {
	doc   norm.Doc
	top   map[string]any
	elems []norm.DocElement
	key   string // the batch's write key
}

var batches = sync.Pool{New: func() any { return new(batch) }}

// maxPooledDoc bounds what a pooled batch keeps: a 100-event batch needs
// ~70 KB, a 500 KB body of tiny values up to 8 MB.
const maxPooledDoc = 1 << 20

func getBatch() *batch { return batches.Get().(*batch) }

// release returns b to the pool; nothing decoded refers to it.
func (b *batch) release() {
	b.top, b.elems, b.key = nil, nil, ""
	b.doc.Reset()
	if b.doc.Footprint() <= maxPooledDoc {
		batches.Put(b)
	}
}

// parse parses body and finds the write key: the batch's, else the first
// message's.
func (b *batch) parse(body []byte) error {
	top, elems, err := b.doc.ParseEnvelope(body, "batch")
	if err != nil {
		return err
	}
	b.top, b.elems = top, elems
	b.key, _ = top["writeKey"].(string)
	d := &b.doc
	for _, e := range elems {
		if b.key != "" {
			break
		}
		if len(e.Raw) <= MaxEventBytes && d.Kind(e.Node) == norm.KindObject {
			if k := d.Member(e.Node, "writeKey"); k != norm.NoNode && d.Kind(k) == norm.KindString {
				b.key = d.Str(k)
			}
		}
	}
	return nil
}

// setEnvelope applies the batch's sentAt and context to env, or returns
// why it cannot.
func (b *batch) setEnvelope(env *Envelope) string {
	switch v := b.top["sentAt"].(type) {
	case nil:
	case string:
		env.SentAt = v
	default:
		return "sentAt: expected an RFC 3339 timestamp string"
	}
	switch v := b.top["context"].(type) {
	case nil:
	case map[string]any:
		env.Context = v
	default:
		return "context: expected an object"
	}
	return ""
}

// convert converts every message; sameWorkspace says whether a message's
// own write key, differing from the batch's, names the same workspace.
func (b *batch) convert(env *Envelope, sameWorkspace func(key string) bool) ([]engine.Op, []Rejected) {
	d := &b.doc
	ops := make([]engine.Op, 0, len(b.elems))
	var rejected []Rejected
	var alloc opAlloc // this request's own: its ops outlive the batch
	for i, e := range b.elems {
		var m map[string]any // built only when Convert must run
		var err error
		switch {
		case len(e.Raw) > MaxEventBytes:
			err = norm.Errf("", "event larger than %d KB", MaxEventBytes>>10)
		case d.Kind(e.Node) != norm.KindObject:
			_, err = asObject(d.Value(e.Node))
		default:
			if k := d.Member(e.Node, "writeKey"); k != norm.NoNode && d.Kind(k) == norm.KindString {
				if kb := d.Text(k); len(kb) > 0 && string(kb) != b.key && !sameWorkspace(string(kb)) {
					err = norm.Errf("writeKey", "differs from the batch's write key")
				}
			}
			if err == nil {
				alloc.todo = len(b.elems) - i
				mark := alloc
				if op, ok := convertDoc(d, e.Node, "", env, &alloc); ok {
					ops = append(ops, op)
					continue
				}
				alloc = mark // nothing of the failed op is kept
			}
			m = d.Value(e.Node).(map[string]any)
			if err == nil {
				var op engine.Op
				if op, err = Convert(m, "", env); err == nil {
					ops = append(ops, op)
					continue
				}
			}
		}
		rejected = append(rejected, reject(i, m, err))
	}
	return ops, rejected
}

// message holds the members of a message convertDoc reads (the last of
// repeated keys, as a map keeps).
type message struct {
	typ, messageID, originalTimestamp, timestamp, sentAt, context  norm.Node
	userID, anonymousID, event, properties, traits, name, category norm.Node
}

// convertDoc is Convert for the message at node n of d. It covers what
// batches hold: identify, track, page and screen messages without
// context.externalIds. For anything else, and for every error, ok is
// false and the caller runs Convert, so that errors and rare cases have a
// single implementation.
//
// The op's slices come from a.
func convertDoc(d *norm.Doc, n norm.Node, typ string, env *Envelope, a *opAlloc) (op engine.Op, ok bool) {
	f := message{norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode,
		norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode, norm.NoNode}
	for c := d.First(n); c != norm.NoNode; c = d.Next(c) {
		switch string(d.Key(c)) {
		case "type":
			f.typ = c
		case "messageId":
			f.messageID = c
		case "originalTimestamp":
			f.originalTimestamp = c
		case "timestamp":
			f.timestamp = c
		case "sentAt":
			f.sentAt = c
		case "context":
			f.context = c
		case "userId":
			f.userID = c
		case "anonymousId":
			f.anonymousID = c
		case "event":
			f.event = c
		case "properties":
			f.properties = c
		case "traits":
			f.traits = c
		case "name":
			f.name = c
		case "category":
			f.category = c
		}
	}
	if typ == "" {
		if f.typ == norm.NoNode || d.Kind(f.typ) != norm.KindString {
			return op, false
		}
		switch string(d.Text(f.typ)) {
		case "identify":
			typ = "identify"
		case "track":
			typ = "track"
		case "page":
			typ = "page"
		case "screen":
			typ = "screen"
		}
	}
	switch typ {
	case "identify", "track", "page", "screen":
	default:
		return op, false
	}

	mid, ok := docString(d, f.messageID)
	if !ok {
		return op, false
	}
	if mid == "" {
		mid = newMessageID()
	}
	op.Source = mid
	op.ReceivedAt = env.ReceivedAt.UnixMicro()
	orig, ok := docTime(d, f.originalTimestamp)
	if !ok {
		return op, false
	}
	if orig.IsZero() {
		if orig, ok = docTime(d, f.timestamp); !ok {
			return op, false
		}
	}
	sent, ok := docTime(d, f.sentAt)
	if !ok {
		return op, false
	}
	var err error
	if op.At, err = skewTime(orig, sent, env); err != nil {
		return op, false
	}
	ctx, ok := docObject(d, f.context)
	if !ok {
		return op, false
	}
	c, ok := readContext(d, ctx, env.Context)
	if !ok {
		return op, false
	}

	uid, ok := docID(d, f.userID)
	if !ok {
		return op, false
	}
	aid, ok := docID(d, f.anonymousID)
	if !ok || uid == "" && aid == "" {
		return op, false
	}
	nids := 0
	if uid != "" {
		nids++
	}
	if aid != "" {
		nids++
	}
	if typ == "identify" {
		nids += 2 // email, phone
	}
	op.IDs = a.ids.take(nids, a.left())
	if uid != "" {
		op.IDs = append(op.IDs, identity.ID{Type: identity.TypeUserID, Value: uid})
	}
	if aid != "" {
		op.IDs = append(op.IDs, identity.ID{Type: identity.TypeAnonymousID, Value: aid})
	}

	profiles := norm.Flattener{Table: engine.Profiles, Schema: env.Schema}
	events := norm.Flattener{Table: engine.Events, Schema: env.Schema}
	traits := norm.NoNode
	if typ == "identify" {
		if traits, ok = docObject(d, f.traits); !ok {
			return op, false
		}
	}
	// Traits stay nil without fields, as Convert leaves them.
	if size := c.traitLeaves + leaves(d, traits); size > 0 {
		op.Traits = a.fields.take(size, a.left())
		switch {
		case c.traits != norm.NoNode:
			op.Traits, err = profiles.DocObject(op.Traits, d, c.traits, "", "context.traits")
		case c.mapTraits != nil:
			op.Traits, err = profiles.Object(op.Traits, c.mapTraits, "", "context.traits")
		}
		if err != nil {
			return op, false
		}
		if traits != norm.NoNode {
			if op.Traits, err = profiles.DocObject(op.Traits, d, traits, "", "traits"); err != nil {
				return op, false
			}
		}
		op.Traits = a.fields.done(op.Traits)
	}

	if typ == "identify" {
		op.Kind = engine.OpIdentify
		if traits != norm.NoNode {
			for _, t := range [...]struct{ key, typ string }{{"email", identity.TypeEmail}, {"phone", identity.TypePhone}} {
				if v := d.Member(traits, t.key); v != norm.NoNode && d.Kind(v) == norm.KindString && len(d.Text(v)) > 0 {
					op.IDs = append(op.IDs, identity.ID{Type: t.typ, Value: d.Str(v)})
				}
			}
		}
		op.IDs = a.ids.done(op.IDs)
		return op, true
	}
	op.IDs = a.ids.done(op.IDs)

	// track, page, screen: an event.
	op.Kind = engine.OpTrack
	props, ok := docObject(d, f.properties)
	if !ok {
		return op, false
	}
	addIP := env.ClientIP != "" && !c.hasIP
	size := 1 + leaves(d, props) + c.leaves // message_id, properties, context
	if typ != "track" {
		size += 2 // name, category
	}
	if addIP {
		size++
	}
	op.Props = a.fields.take(size, a.left())
	switch typ {
	case "track":
		if f.event == norm.NoNode || d.Kind(f.event) != norm.KindString {
			return op, false
		}
		ev := d.Text(f.event)
		if len(ev) == 0 || len(ev) > maxEventName {
			return op, false
		}
		op.Event = string(ev)
	case "page", "screen":
		op.Event = PageEvent
		if typ == "screen" {
			op.Event = ScreenEvent
		}
		for _, k := range [...]struct {
			name string
			node norm.Node
		}{{"name", f.name}, {"category", f.category}} {
			s, ok := docString(d, k.node)
			if !ok {
				return op, false
			}
			if s != "" {
				op.Props = append(op.Props, engine.Field{Name: k.name, Value: column.String(s)})
			}
		}
	}
	if props != norm.NoNode {
		if op.Props, err = events.DocObject(op.Props, d, props, "", "properties"); err != nil {
			return op, false
		}
	}
	if addIP {
		op.Props = append(op.Props, engine.Field{Name: "context_ip", Value: column.String(env.ClientIP)})
	}
	switch {
	case c.node != norm.NoNode && d.Len(c.node) > 0:
		op.Props, err = events.DocObjectExcept(op.Props, d, c.node, "context", "context", "traits", "externalIds")
	case len(c.m) > 0:
		op.Props, err = events.ObjectExcept(op.Props, c.m, "context", "context", "traits", "externalIds")
	}
	if err != nil {
		return op, false
	}
	op.Props = append(op.Props, engine.Field{Name: "message_id", Value: column.String(mid)})
	op.Props = a.fields.done(op.Props)
	return op, true
}

// msgContext is what convertDoc reads of a message's context: its node,
// or, with a batch context, the map Convert merges (the batch's values
// are maps already).
type msgContext struct {
	node        norm.Node
	m           map[string]any
	traits      norm.Node      // context.traits, an object, in node
	mapTraits   map[string]any // context.traits in m
	traitLeaves int            // bounds the traits' fields
	leaves      int            // bounds the context's fields, without traits
	hasIP       bool
}

// readContext reads the context ctx (NoNode: none) merged with the
// batch's; ok is false where Convert would fail or read externalIds.
func readContext(d *norm.Doc, ctx norm.Node, batch map[string]any) (c msgContext, ok bool) {
	c.node, c.traits = norm.NoNode, norm.NoNode
	if batch != nil {
		if ctx != norm.NoNode {
			c.m = d.Value(ctx).(map[string]any)
		}
		c.m = mergeUnder(c.m, batch)
		if c.m["externalIds"] != nil {
			return c, false
		}
		t, err := object(c.m, "traits")
		if err != nil {
			return c, false
		}
		c.mapTraits, c.traitLeaves = t, mapLeaves(t)
		_, c.hasIP = c.m["ip"]
		c.leaves = mapLeaves(c.m) // traits and externalIds included: a bound
		return c, true
	}
	if ctx == norm.NoNode {
		return c, true
	}
	c.node, c.leaves = ctx, d.Leaves(ctx) // traits included: a bound
	last := norm.NoNode                   // of the traits members, the one a map keeps
	for m := d.First(ctx); m != norm.NoNode; m = d.Next(m) {
		switch string(d.Key(m)) {
		case "externalIds":
			if d.Kind(m) != norm.KindNull {
				return c, false
			}
		case "traits":
			last = m
		case "ip":
			c.hasIP = true
		}
	}
	if c.traits, ok = docObject(d, last); !ok {
		return c, false
	}
	c.traitLeaves = leaves(d, c.traits)
	return c, true
}

// mapLeaves is the number of fields flattening m yields.
func mapLeaves(m map[string]any) int {
	n := 0
	for _, v := range m {
		if o, ok := v.(map[string]any); ok {
			n += mapLeaves(o)
		} else {
			n++
		}
	}
	return n
}

// leaves bounds the fields of object n (NoNode: none).
func leaves(d *norm.Doc, n norm.Node) int {
	if n == norm.NoNode {
		return 0
	}
	return d.Leaves(n)
}

// opAlloc hands out the slices of a request's ops from chunks shared by
// many ops: one allocation per chunk instead of one per slice. Every
// slice is capped at its length, so an append to one op's slice never
// writes into another's; a chunk lives as long as any op using it.
type opAlloc struct {
	fields chunks[engine.Field]
	ids    chunks[identity.ID]
	todo   int // messages left to convert, to size chunks
}

func (a *opAlloc) left() int { return max(a.todo, 1) }

// chunks is one kind of slice of an opAlloc.
type chunks[T any] struct {
	buf  []T // buf[off:] is free
	off  int
	last int // where the last slice taken starts
}

// maxChunk bounds a chunk (beyond one slice's need), in elements.
const maxChunk = 1024

// take returns an empty slice with room for n, the most the caller
// appends before done; perOp is how many such slices are to come.
func (c *chunks[T]) take(n, perOp int) []T {
	if len(c.buf)-c.off < n {
		c.buf = make([]T, max(n, min(n*perOp, maxChunk)))
		c.off = 0
	}
	s := c.buf[c.off : c.off : c.off+n]
	c.last = c.off
	c.off += n
	return s
}

// done gives back the room s, the last slice taken, did not use, and caps
// s at its length.
func (c *chunks[T]) done(s []T) []T {
	// Unless s outgrew its room (then append moved it): the room stays
	// unused, never handed out twice.
	if cap(s) == c.off-c.last && cap(s) > 0 && &s[:1][0] == &c.buf[c.last] {
		c.off -= cap(s) - len(s)
	}
	return s[:len(s):len(s)]
}

// docString is str: absent or null is "", another non-string fails.
func docString(d *norm.Doc, n norm.Node) (string, bool) {
	if n == norm.NoNode {
		return "", true
	}
	switch d.Kind(n) {
	case norm.KindNull:
		return "", true
	case norm.KindString:
		return d.Str(n), true
	}
	return "", false
}

// docID is idString: a string, or a number taken as its text.
func docID(d *norm.Doc, n norm.Node) (string, bool) {
	if n != norm.NoNode && d.Kind(n) == norm.KindNumber {
		return d.Str(n), true
	}
	return docString(d, n)
}

// docObject is object: absent or null is NoNode, a non-object fails.
func docObject(d *norm.Doc, n norm.Node) (norm.Node, bool) {
	if n == norm.NoNode {
		return n, true
	}
	switch d.Kind(n) {
	case norm.KindNull:
		return norm.NoNode, true
	case norm.KindObject:
		return n, true
	}
	return n, false
}

// docTime is timeField.
func docTime(d *norm.Doc, n norm.Node) (time.Time, bool) {
	if n == norm.NoNode || d.Kind(n) == norm.KindNull {
		return time.Time{}, true
	}
	if d.Kind(n) != norm.KindString {
		return time.Time{}, false
	}
	s := d.Text(n)
	if len(s) == 0 {
		return time.Time{}, true
	}
	return norm.ParseTimeText(s)
}
