package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/cohortdb/cohort/ingest/keys"
	ilog "github.com/cohortdb/cohort/ingest/log"
)

// ErrUnauthorized is returned by HTTPSink when the server refuses the
// write key.
var ErrUnauthorized = errors.New("the server refused the write key")

// HTTPSink posts batches to a running server's Segment batch endpoint
// (POST {URL}/v1/batch, the write key as the Basic auth user). Network
// errors, 429 and 5xx answers are retried with exponential back-off.
type HTTPSink struct {
	URL      string // http://127.0.0.1:8080
	WriteKey string
	Client   *http.Client // default: 60 s timeout
	Retries  int          // default 6
}

// Send implements Sink.
func (s *HTTPSink) Send(ctx context.Context, _ string, b *Batch) ([]SinkReject, error) {
	if len(b.Raw) == 0 {
		return nil, nil
	}
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i, raw := range b.Raw {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(raw)
	}
	body.WriteString("]}")
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	retries := s.Retries
	if retries <= 0 {
		retries = 6
	}
	url := strings.TrimRight(s.URL, "/") + "/v1/batch"
	wait := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		rejs, retry, err := s.post(ctx, client, url, body.Bytes())
		if err == nil || !retry || attempt >= retries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return rejs, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (s *HTTPSink) post(ctx context.Context, client *http.Client, url string, body []byte) (_ []SinkReject, retry bool, _ error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("cannot build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(s.WriteKey, "")
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("cannot reach %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("cannot read the answer of %s: %w", url, err)
	}
	var ans struct {
		Error    string `json:"error"`
		Rejected []struct {
			Index int    `json:"index"`
			Field string `json:"field"`
			Error string `json:"error"`
		} `json:"rejected"`
	}
	jerr := json.Unmarshal(data, &ans)
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest && jerr == nil && len(ans.Rejected) > 0:
		if jerr != nil {
			return nil, false, fmt.Errorf("cannot decode the answer of %s: %w", url, jerr)
		}
		out := make([]SinkReject, len(ans.Rejected))
		for i, r := range ans.Rejected {
			out[i] = SinkReject{Index: r.Index, Field: r.Field, Reason: r.Error}
		}
		return out, false, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, false, fmt.Errorf("%w: %s", ErrUnauthorized, ans.Error)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, true, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return nil, false, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(data)))
}

// LogSink appends batches to the durable log in the data directory of a
// stopped server (its embedded NATS store, DataDir/nats); the server
// applies them when it starts. It must not run beside a server using the
// same directory. Unlike HTTPSink it cannot check values against the
// workspace's existing column types: a conflicting value is rejected by
// the engine when the log is applied (and logged by the server).
type LogSink struct {
	l  *ilog.Log
	ks *keys.Store
}

// OpenLogSink opens the log of dataDir and checks that workspace exists.
func OpenLogSink(ctx context.Context, dataDir, workspace string) (*LogSink, error) {
	l, err := ilog.Open(ctx, ilog.Options{Dir: filepath.Join(dataDir, "nats")})
	if err != nil {
		return nil, fmt.Errorf("cannot open the log in %s: %w", dataDir, err)
	}
	ks, err := keys.Open(ctx, l.JetStream(), "", nil)
	if err != nil {
		l.Close(ctx)
		return nil, fmt.Errorf("cannot open the key store in %s: %w", dataDir, err)
	}
	if !ks.Exists(workspace) {
		ks.Close()
		l.Close(ctx)
		return nil, fmt.Errorf("cannot import into %s: %w", workspace, keys.ErrNoWorkspace)
	}
	return &LogSink{l: l, ks: ks}, nil
}

// Send implements Sink.
func (s *LogSink) Send(ctx context.Context, ws string, b *Batch) ([]SinkReject, error) {
	if err := s.l.Append(ctx, ws, b.Ops); err != nil {
		return nil, err
	}
	return nil, nil
}

// Close flushes and closes the log.
func (s *LogSink) Close(ctx context.Context) error {
	s.ks.Close()
	return s.l.Close(ctx)
}
