package segment

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest/norm"
)

// Event names of page and screen calls, which become track events.
const (
	PageEvent   = "page_viewed"
	ScreenEvent = "screen_viewed"
)

// Limits of the Segment Tracking API.
const (
	MaxEventBytes = 32 << 10
	MaxBatchBytes = 500 << 10
	maxEventName  = 512 // bytes of a track event's name (the engine's limit too)
)

// Envelope is what a batch (or the request) gives every message it holds.
type Envelope struct {
	ReceivedAt time.Time
	SentAt     string         // batch-level sentAt, used if a message has none
	Context    map[string]any // batch-level context, merged under each message's
	ClientIP   string         // request address, used as context.ip if absent
	Schema     norm.Schema

	// SentAt parsed, once per request rather than once per message.
	sentFor    string
	sent       time.Time
	sentErr    error
	sentParsed bool
}

// batchSentAt returns SentAt parsed.
func (env *Envelope) batchSentAt() (time.Time, error) {
	if !env.sentParsed || env.sentFor != env.SentAt {
		env.sentFor, env.sentParsed = env.SentAt, true
		env.sent, env.sentErr = norm.ParseTime(env.SentAt)
	}
	return env.sent, env.sentErr
}

// Decode parses one JSON message of the given type ("" = the message's
// "type" field) into an operation.
func Decode(data []byte, typ string, env *Envelope) (engine.Op, error) {
	m, err := parseObject(data)
	if err != nil {
		return engine.Op{}, err
	}
	return Convert(m, typ, env)
}

func parseObject(data []byte) (map[string]any, error) {
	v, err := norm.ParseJSON(data)
	if err != nil {
		return nil, err
	}
	return asObject(v)
}

func asObject(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, norm.Errf("", "expected a JSON object, got %s", jsonType(v))
	}
	return m, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Convert turns one parsed message into an operation.
func Convert(m map[string]any, typ string, env *Envelope) (engine.Op, error) {
	if typ == "" {
		t, err := str(m, "type")
		if err != nil {
			return engine.Op{}, err
		}
		typ = t
	}
	var op engine.Op
	mid, err := str(m, "messageId")
	if err != nil {
		return op, err
	}
	if mid == "" {
		mid = newMessageID()
	}
	op.Source = mid
	op.ReceivedAt = env.ReceivedAt.UnixMicro()
	if op.At, err = eventTime(m, env); err != nil {
		return op, err
	}
	ctx, err := object(m, "context")
	if err != nil {
		return op, err
	}
	if env.Context != nil {
		ctx = mergeUnder(ctx, env.Context)
	}
	profiles := norm.Flattener{Table: engine.Profiles, Schema: env.Schema}
	events := norm.Flattener{Table: engine.Events, Schema: env.Schema}

	switch typ {
	case "identify", "track", "page", "screen", "group":
		if op.IDs, err = ids(m, ctx); err != nil {
			return op, err
		}
		if len(op.IDs) == 0 {
			return op, norm.Errf("userId", "userId or anonymousId is required")
		}
	case "alias":
		prev, err := idString(m, "previousId")
		if err != nil {
			return op, err
		}
		user, err := idString(m, "userId")
		if err != nil {
			return op, err
		}
		if prev == "" {
			return op, norm.Errf("previousId", "required")
		}
		if user == "" {
			return op, norm.Errf("userId", "required")
		}
		op.Kind = engine.OpAlias
		op.IDs = []identity.ID{{Type: identity.TypeAnonymousID, Value: prev}, {Type: identity.TypeUserID, Value: user}}
		return op, nil
	default:
		return op, norm.Errf("type", "unknown message type %q", typ)
	}

	// Traits from context.traits, then the message's own (which win).
	if ct, err := object(ctx, "traits"); err != nil {
		return op, prefixErr(err, "context.")
	} else if ct != nil {
		if op.Traits, err = profiles.Object(op.Traits, ct, "", "context.traits"); err != nil {
			return op, err
		}
	}

	switch typ {
	case "identify":
		op.Kind = engine.OpIdentify
		traits, err := object(m, "traits")
		if err != nil {
			return op, err
		}
		if op.Traits, err = profiles.Object(op.Traits, traits, "", "traits"); err != nil {
			return op, err
		}
		op.IDs = appendTraitIDs(op.IDs, traits)
		return op, nil
	case "group":
		op.Kind = engine.OpIdentify
		gid, err := idString(m, "groupId")
		if err != nil {
			return op, err
		}
		if gid == "" {
			return op, norm.Errf("groupId", "required")
		}
		op.Traits = append(op.Traits, engine.Field{Name: "group_id", Value: column.String(gid)})
		traits, err := object(m, "traits")
		if err != nil {
			return op, err
		}
		if op.Traits, err = profiles.Object(op.Traits, traits, "group", "traits"); err != nil {
			return op, err
		}
		return op, nil
	}

	// track, page, screen: an event.
	op.Kind = engine.OpTrack
	op.Props = make([]engine.Field, 0, 24)
	switch typ {
	case "track":
		ev, err := str(m, "event")
		if err != nil {
			return op, err
		}
		if ev == "" {
			return op, norm.Errf("event", "required")
		}
		if len(ev) > maxEventName {
			return op, norm.Errf("event", "longer than %d bytes", maxEventName)
		}
		op.Event = ev
	case "page", "screen":
		op.Event = PageEvent
		if typ == "screen" {
			op.Event = ScreenEvent
		}
		for _, k := range []string{"name", "category"} {
			s, err := str(m, k)
			if err != nil {
				return op, err
			}
			if s != "" {
				op.Props = append(op.Props, engine.Field{Name: k, Value: column.String(s)})
			}
		}
	}
	props, err := object(m, "properties")
	if err != nil {
		return op, err
	}
	if op.Props, err = events.Object(op.Props, props, "", "properties"); err != nil {
		return op, err
	}
	if _, ok := ctx["ip"]; !ok && env.ClientIP != "" {
		op.Props = append(op.Props, engine.Field{Name: "context_ip", Value: column.String(env.ClientIP)})
	}
	if len(ctx) > 0 {
		if op.Props, err = events.ObjectExcept(op.Props, ctx, "context", "context", "traits", "externalIds"); err != nil {
			return op, err
		}
	}
	op.Props = append(op.Props, engine.Field{Name: "message_id", Value: column.String(mid)})
	return op, nil
}

func prefixErr(err error, prefix string) error {
	if fe, ok := err.(*norm.FieldError); ok {
		return &norm.FieldError{Field: prefix + fe.Field, Reason: fe.Reason}
	}
	return err
}

// mergeUnder returns m with the keys of base it lacks (one level deep for
// nested objects such as library).
func mergeUnder(m, base map[string]any) map[string]any {
	if m == nil {
		m = make(map[string]any, len(base))
	}
	for k, v := range base {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return m
}

// ids collects userId, anonymousId and context.externalIds.
func ids(m, ctx map[string]any) ([]identity.ID, error) {
	var out []identity.ID
	uid, err := idString(m, "userId")
	if err != nil {
		return nil, err
	}
	if uid != "" {
		out = append(out, identity.ID{Type: identity.TypeUserID, Value: uid})
	}
	aid, err := idString(m, "anonymousId")
	if err != nil {
		return nil, err
	}
	if aid != "" {
		out = append(out, identity.ID{Type: identity.TypeAnonymousID, Value: aid})
	}
	raw, ok := ctx["externalIds"]
	if !ok || raw == nil {
		return out, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, norm.Errf("context.externalIds", "expected an array, got %s", jsonType(raw))
	}
	for i, e := range list {
		path := "context.externalIds[" + strconv.Itoa(i) + "]"
		x, ok := e.(map[string]any)
		if !ok {
			return nil, norm.Errf(path, "expected an object, got %s", jsonType(e))
		}
		id, err := idString(x, "id")
		if err != nil {
			return nil, prefixErr(err, path+".")
		}
		t, err := str(x, "type")
		if err != nil {
			return nil, prefixErr(err, path+".")
		}
		t = norm.SnakeCase(t)
		if id == "" || t == "" {
			return nil, norm.Errf(path, "id and type are required")
		}
		out = append(out, identity.ID{Type: identity.ExternalPrefix + t, Value: id})
	}
	return out, nil
}

// appendTraitIDs adds traits.email and traits.phone as identifiers.
func appendTraitIDs(out []identity.ID, traits map[string]any) []identity.ID {
	if s, ok := traits["email"].(string); ok && s != "" {
		out = append(out, identity.ID{Type: identity.TypeEmail, Value: s})
	}
	if s, ok := traits["phone"].(string); ok && s != "" {
		out = append(out, identity.ID{Type: identity.TypePhone, Value: s})
	}
	return out
}

// eventTime applies Segment's clock-skew correction: with sentAt, the
// event happened (sentAt − originalTimestamp) before it was received;
// without it, the client's timestamp is used as is; with neither, the
// receive time.
func eventTime(m map[string]any, env *Envelope) (int64, error) {
	orig, err := timeField(m, "originalTimestamp")
	if err != nil {
		return 0, err
	}
	if orig.IsZero() {
		if orig, err = timeField(m, "timestamp"); err != nil {
			return 0, err
		}
	}
	sent, err := timeField(m, "sentAt")
	if err != nil {
		return 0, err
	}
	return skewTime(orig, sent, env)
}

// skewTime is eventTime once the message's times are parsed.
func skewTime(orig, sent time.Time, env *Envelope) (int64, error) {
	var err error
	if sent.IsZero() && env.SentAt != "" {
		if sent, err = env.batchSentAt(); err != nil {
			return 0, norm.Errf("sentAt", "%q is not an RFC 3339 timestamp", env.SentAt)
		}
	}
	t := env.ReceivedAt
	switch {
	case !orig.IsZero() && !sent.IsZero():
		t = env.ReceivedAt.Add(-sent.Sub(orig))
	case !orig.IsZero():
		t = orig
	}
	us := t.UnixMicro()
	if us == 0 {
		us = 1
	}
	return us, nil
}

func timeField(m map[string]any, k string) (time.Time, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return time.Time{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, norm.Errf(k, "expected an RFC 3339 timestamp string, got %s", jsonType(v))
	}
	if s == "" {
		return time.Time{}, nil
	}
	t, err := norm.ParseTime(s)
	if err != nil {
		return time.Time{}, norm.Errf(k, "%q is not an RFC 3339 timestamp", s)
	}
	return t, nil
}

func str(m map[string]any, k string) (string, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", norm.Errf(k, "expected a string, got %s", jsonType(v))
	}
	return s, nil
}

// idString reads an identifier: a string, or a number taken as its text.
func idString(m map[string]any, k string) (string, error) {
	switch v := m[k].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	default:
		return "", norm.Errf(k, "expected a string, got %s", jsonType(v))
	}
}

func object(m map[string]any, k string) (map[string]any, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, norm.Errf(k, "expected an object, got %s", jsonType(v))
	}
	return o, nil
}

func newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	return "cohort-" + hex.EncodeToString(b[:])
}
