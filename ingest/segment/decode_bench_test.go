package segment

import (
	"fmt"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/ingest/norm"
)

// loadBody returns a /v1/batch body of n track events shaped like the
// load generator's (bench/internal/loadgen/template.go).
func loadBody(n int) []byte {
	names := []string{"Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Checkout Started", "Order Completed"}
	cats := []string{"shoes", "shirts", "bags", "hats"}
	b := []byte(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"type":"track","userId":"u%d"   ,"event":%q,"messageId":"bench-run1-000000000042-%d","timestamp":"2024-05-01T10:00:00.000Z",`+
			`"properties":{"product_id":"p-%d","price":%d.99,"category":%q,"quantity":%d},`+
			`"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`,
			100000+i*7919%900000, names[i%len(names)], i, i*37%5000, i*13%200, cats[i%len(cats)], 1+i%3)
	}
	return append(b, "]}"...)
}

// benchSchema stands for a workspace whose event columns exist already,
// as they do after the first events of a load test.
func benchSchema() norm.Schema {
	cols := map[string]column.Type{
		"product_id": column.TypeString, "price": column.TypeFloat, "category": column.TypeString,
		"quantity": column.TypeInt, "context_os_name": column.TypeString, "context_os_version": column.TypeString,
		"context_app_version": column.TypeString, "context_ip": column.TypeString, "message_id": column.TypeString,
	}
	return func(table, col string) (column.Type, bool) {
		if table != engine.Events {
			return 0, false
		}
		t, ok := cols[col]
		return t, ok
	}
}

// BenchmarkBatchDecode is serveBatch's work per request without HTTP and
// the sink: parse the body, then convert every message.
func BenchmarkBatchDecode(b *testing.B) {
	const n = 100
	body := loadBody(n)
	schema := benchSchema()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		bt := getBatch()
		if err := bt.parse(body); err != nil {
			b.Fatal(err)
		}
		env := &Envelope{ReceivedAt: time.Unix(1714557600, 0), ClientIP: "10.9.8.7", Schema: schema}
		if msg := bt.setEnvelope(env); msg != "" {
			b.Fatal(msg)
		}
		ops, rejected := bt.convert(env, func(string) bool { return true })
		if len(ops) != n || len(rejected) != 0 {
			b.Fatal(len(ops), rejected)
		}
		bt.release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkBatchDecodeGeneric is the same work done the reference way
// (referenceBatch: norm.ParseEnvelope, then Convert on each message's map).
func BenchmarkBatchDecodeGeneric(b *testing.B) {
	const n = 100
	body := loadBody(n)
	schema := benchSchema()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		env := &Envelope{ReceivedAt: time.Unix(1714557600, 0), ClientIP: "10.9.8.7", Schema: schema}
		res := referenceBatch(body, env, func(string) bool { return true })
		if len(res.Ops) != n || len(res.Rejected) != 0 || res.ParseErr != "" || res.EnvErr != "" {
			b.Fatal(len(res.Ops), res.Rejected, res.ParseErr, res.EnvErr)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
