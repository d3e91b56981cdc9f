package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cohortdb/cohort/api/client"
)

// Look a person up by email: their identifiers, merges, traits and
// newest events.
func Example() {
	addr, token, stop := startServer() // `cohort serve` and `cohort token create` in real life
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(addr, token)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	p, err := c.GetProfile(ctx, "acme", client.ByID("ann@example.com"))
	if err != nil {
		log.Fatal(err) // status.Code(err) == codes.NotFound: nobody has it
	}
	fmt.Println("matched", p.Matched.Type, "plan", p.Traits["plan"].GetStringValue())
	for _, id := range p.Identifiers {
		fmt.Println("identifier", id.Type, id.Value)
	}
	fmt.Println("merges", len(p.Merges))
	for _, e := range p.Events {
		fmt.Println("event", e.Name, e.Time.AsTime().Format("15:04:05"))
	}
	// Output:
	// matched email plan pro
	// identifier user_id ann
	// identifier email ann@example.com
	// identifier anonymous_id d-1
	// merges 1
	// event checkout 09:00:03
	// event page_viewed 09:00:00
}

// Export a segment's members batch by batch; an interrupted export
// resumes from the cursor of the last batch it kept.
func ExampleClient_StreamMembers() {
	addr, token, stop := startServer()
	defer stop()
	ctx := context.Background()
	c, err := client.Dial(addr, token)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var saved []uint32
	crash := fmt.Errorf("disk full")
	cursor, err := c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{BatchSize: 10}, func(ids []uint32, cursor string) error {
		if len(saved) == 10 {
			return crash // the second batch is not saved
		}
		saved = append(saved, ids...)
		return nil
	})
	fmt.Println("first run:", len(saved), "ids, error:", err)

	// Later: go on from the cursor.
	_, err = c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{Cursor: cursor, BatchSize: 10}, func(ids []uint32, cursor string) error {
		saved = append(saved, ids...)
		return nil
	})
	fmt.Println("resumed:", len(saved), "ids, last", saved[len(saved)-1], "error:", err)
	// Output:
	// first run: 10 ids, error: disk full
	// resumed: 25 ids, last 25 error: <nil>
}
