// Package client is the Go client of Cohort's gRPC API: segments
// (api/segment/v1) and profiles (api/profile/v1), authenticated with an
// API token of a workspace (`cohort token create --workspace W --scope
// read`).
//
//	c, err := client.Dial("127.0.0.1:9090", token)
//	defer c.Close()
//	p, err := c.GetProfile(ctx, "acme", client.ByID("ann@example.com"))
//	n, err := c.CountSegment(ctx, "acme", "vip")
//	cursor, err := c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{}, func(ids []uint32, cursor string) error {
//		return export(ids) // cursor resumes after this batch
//	})
//
// Errors are gRPC statuses: status.Code(err) is Unauthenticated (no or
// unknown token), PermissionDenied (another workspace, or a read token
// writing), NotFound, InvalidArgument, Unimplemented, Unavailable (retry;
// streams resume from their cursor or sequence)...
//
// The generated stubs (Segments, Profiles) stay available for anything
// the typed methods do not cover.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
)

// Client is a connection to a Cohort server. It is safe for concurrent
// use.
type Client struct {
	conn *grpc.ClientConn
	// Segments and Profiles are the generated stubs on the same
	// connection.
	Segments segmentv1.SegmentServiceClient
	Profiles profilev1.ProfileServiceClient
}

type options struct {
	tls  *tls.Config
	dial []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithTLS connects over TLS with cfg (default: plaintext, as `cohort
// serve` listens).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithDialOptions adds gRPC dial options (interceptors, a custom dialer,
// keepalive...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// bearer sends the token with every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Dial returns a client for the server at addr (host:port, or any gRPC
// target) that authenticates every call with token. It does not wait for
// the connection: the first call does.
func Dial(addr, token string, opts ...Option) (*Client, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{token: token, secure: o.tls != nil}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	conn, err := grpc.NewClient(addr, append(dial, o.dial...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot dial %s: %w", addr, err)
	}
	return &Client{conn: conn, Segments: segmentv1.NewSegmentServiceClient(conn), Profiles: profilev1.NewProfileServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// RequestIDHeader is the metadata key of request ids.
const RequestIDHeader = "x-request-id"

// WithRequestID returns a context whose calls carry request id id (the
// server generates one otherwise); it appears in the server's logs and
// in the response header x-request-id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, RequestIDHeader, id)
}

// Segments.

// CreateSegment defines a segment; AlreadyExists if the name is taken.
func (c *Client) CreateSegment(ctx context.Context, ws, name, sql string) (*segmentv1.Segment, error) {
	return c.Segments.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{Workspace: ws, Name: name, Sql: sql})
}

// ReplaceSegment defines a segment or replaces its definition by a new
// version.
func (c *Client) ReplaceSegment(ctx context.Context, ws, name, sql string) (*segmentv1.Segment, error) {
	return c.Segments.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{Workspace: ws, Name: name, Sql: sql, Replace: true})
}

// GetSegment describes a segment.
func (c *Client) GetSegment(ctx context.Context, ws, name string) (*segmentv1.Segment, error) {
	return c.Segments.GetSegment(ctx, &segmentv1.GetSegmentRequest{Workspace: ws, Name: name})
}

// ListSegments returns every segment of ws, reading all pages.
func (c *Client) ListSegments(ctx context.Context, ws string) ([]*segmentv1.Segment, error) {
	var out []*segmentv1.Segment
	token := ""
	for {
		r, err := c.Segments.ListSegments(ctx, &segmentv1.ListSegmentsRequest{Workspace: ws, PageToken: token})
		if err != nil {
			return out, err
		}
		out = append(out, r.Segments...)
		if token = r.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// DeleteSegment drops a segment.
func (c *Client) DeleteSegment(ctx context.Context, ws, name string) error {
	_, err := c.Segments.DeleteSegment(ctx, &segmentv1.DeleteSegmentRequest{Workspace: ws, Name: name})
	return err
}

// CountSegment returns the number of members.
func (c *Client) CountSegment(ctx context.Context, ws, name string) (uint64, error) {
	r, err := c.Segments.CountSegment(ctx, &segmentv1.CountSegmentRequest{Workspace: ws, Name: name})
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

// PreviewSegment returns up to limit members (0: the server's default)
// with the given profile attributes.
func (c *Client) PreviewSegment(ctx context.Context, ws, name string, limit int, attributes ...string) ([]*segmentv1.Member, error) {
	r, err := c.Segments.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{Workspace: ws, Name: name, Limit: uint32(max(limit, 0)), Attributes: attributes})
	if err != nil {
		return nil, err
	}
	return r.Members, nil
}

// MembersOptions tune StreamMembers and Members.
type MembersOptions struct {
	// Cursor resumes after the batch that carried it; "" starts at the
	// beginning.
	Cursor string
	// BatchSize is the number of ids per batch; 0: the server's default.
	BatchSize int
}

// Members iterates over a segment's members batch by batch. Each batch
// carries the cursor that resumes after it; after an error (the last
// element) pass the last cursor seen in MembersOptions.Cursor to go on.
// Stopping the loop early cancels the stream.
func (c *Client) Members(ctx context.Context, ws, name string, opts MembersOptions) iter.Seq2[*segmentv1.MembersBatch, error] {
	return func(yield func(*segmentv1.MembersBatch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := c.Segments.StreamMembers(ctx, &segmentv1.StreamMembersRequest{
			Workspace: ws, Name: name, Cursor: opts.Cursor, BatchSize: uint32(max(opts.BatchSize, 0)),
		})
		if err != nil {
			yield(nil, err)
			return
		}
		for {
			b, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// StreamMembers calls fn with every batch of a segment's member ids and
// the cursor that resumes after it, and returns the cursor of the last
// batch fn accepted (opts.Cursor if none). An error of fn stops the
// stream and is returned; so is a stream error, after which the returned
// cursor resumes without loss or repetition.
func (c *Client) StreamMembers(ctx context.Context, ws, name string, opts MembersOptions, fn func(ids []uint32, cursor string) error) (string, error) {
	cursor := opts.Cursor
	for b, err := range c.Members(ctx, ws, name, opts) {
		if err != nil {
			return cursor, err
		}
		if err := fn(b.PersonIds, b.Cursor); err != nil {
			return cursor, err
		}
		cursor = b.Cursor
	}
	return cursor, nil
}

// WatchSegment calls fn with every entry and exit of a segment ("-":
// every segment of ws) from sequence from (0: from now on) until ctx
// ends, the stream fails or fn returns an error. It returns the sequence
// to resume from: the last one fn accepted + 1 (from if none).
func (c *Client) WatchSegment(ctx context.Context, ws, name string, from uint64, fn func(*segmentv1.MembershipEvent) error) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.Segments.WatchSegment(ctx, &segmentv1.WatchSegmentRequest{Workspace: ws, Name: name, FromSequence: from})
	if err != nil {
		return from, err
	}
	next := from
	for {
		e, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return next, err
		}
		if err := fn(e); err != nil {
			return next, err
		}
		next = e.Sequence + 1
	}
}

// Profiles.

// Person names a person by an identifier.
type Person struct {
	// Type of ID: "user_id", "email", "anonymous_id", "phone",
	// "external:<name>", "person_id"; "" tries user_id, email,
	// anonymous_id, phone, then external ids.
	Type string
	ID   string
}

// ByID names a person by an identifier of any type.
func ByID(id string) Person { return Person{ID: id} }

// ByType names a person by an identifier of a given type.
func ByType(typ, id string) Person { return Person{Type: typ, ID: id} }

// ByPersonID names a person by Cohort's person id.
func ByPersonID(p uint32) Person {
	return Person{Type: "person_id", ID: strconv.FormatUint(uint64(p), 10)}
}

// GetProfile returns a person's profile: identifiers, merges, traits,
// segments and the newest events (ListEvents continues them).
func (c *Client) GetProfile(ctx context.Context, ws string, who Person) (*profilev1.Profile, error) {
	return c.Profiles.GetProfile(ctx, &profilev1.GetProfileRequest{Workspace: ws, Id: who.ID, Type: who.Type})
}

// ListEvents returns one page of a person's events, newest first, and the
// token of the next page ("" after the last).
func (c *Client) ListEvents(ctx context.Context, ws string, who Person, pageSize int, pageToken string) ([]*profilev1.Event, string, error) {
	r, err := c.Profiles.ListEvents(ctx, &profilev1.ListEventsRequest{Workspace: ws, Id: who.ID, Type: who.Type, PageSize: uint32(max(pageSize, 0)), PageToken: pageToken})
	if err != nil {
		return nil, "", err
	}
	return r.Events, r.NextPageToken, nil
}

// Events iterates over all of a person's events, newest first, page by
// page.
func (c *Client) Events(ctx context.Context, ws string, who Person) iter.Seq2[*profilev1.Event, error] {
	return func(yield func(*profilev1.Event, error) bool) {
		token := ""
		for {
			evs, next, err := c.ListEvents(ctx, ws, who, 0, token)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range evs {
				if !yield(e, nil) {
					return
				}
			}
			if token = next; token == "" {
				return
			}
		}
	}
}

// HistoryOptions filter GetHistory.
type HistoryOptions = profilev1.GetHistoryRequest

// GetHistory returns one page of a person's attribute changes, newest
// first. opts may set Attributes, StartTime, EndTime, PageSize and
// PageToken; its Workspace, Id and Type are set from ws and who.
func (c *Client) GetHistory(ctx context.Context, ws string, who Person, opts *HistoryOptions) (*profilev1.GetHistoryResponse, error) {
	req := &profilev1.GetHistoryRequest{}
	if opts != nil {
		req.Attributes, req.StartTime, req.EndTime, req.PageSize, req.PageToken = opts.Attributes, opts.StartTime, opts.EndTime, opts.PageSize, opts.PageToken
	}
	req.Workspace, req.Id, req.Type = ws, who.ID, who.Type
	return c.Profiles.GetHistory(ctx, req)
}
