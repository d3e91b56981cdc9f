package snapshot

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"path"
	"regexp"

	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// FormatVersion is the snapshot format this code writes. Readers accept
// every version listed in docs/format/snapshot.md (today: 1).
const FormatVersion = 1

// ManifestName is the manifest's file name inside a snapshot directory.
const ManifestName = "MANIFEST"

// manifestMagic starts every manifest.
var manifestMagic = [8]byte{'C', 'H', 'R', 'T', 'S', 'N', 'A', 'P'}

// headerSize is magic + version + body length + body CRC32C.
const headerSize = 8 + 4 + 4 + 4

// maxManifest bounds a manifest body.
const maxManifest = 16 << 20

// Manifest describes one snapshot of one workspace.
type Manifest struct {
	Format    int    `json:"format"`
	Workspace string `json:"workspace"`
	Seq       uint64 `json:"seq"`        // batches applied
	LogSeq    uint64 `json:"log_seq"`    // last durable-log position applied
	NextEvent int64  `json:"next_event"` // next event_id
	Persons   int    `json:"persons"`    // person ids allocated
	// The engine's in-memory event window (engine.Snapshot.EventsFrom,
	// EventsThrough): events with ts < events_from and event_id <=
	// events_through are not in the snapshot but in the sealed event
	// partitions. Absent (0): every event is in the snapshot.
	EventsFrom    int64  `json:"events_from,omitempty"`
	EventsThrough int64  `json:"events_through,omitempty"`
	Created       string `json:"created"` // RFC 3339, informational
	Files         []File `json:"files"`
}

// File describes one Parquet file of a snapshot.
type File struct {
	Name    string           `json:"name"`  // file name in the snapshot directory
	Table   string           `json:"table"` // profiles, events, identities, identifiers, merges
	Rows    int64            `json:"rows"`
	Size    int64            `json:"size"`
	CRC32C  uint32           `json:"crc32c"`
	Columns []pqtable.Column `json:"columns"` // in engine order
}

// File returns the entry of table t.
func (m *Manifest) File(t string) (*File, bool) {
	for i := range m.Files {
		if m.Files[i].Table == t {
			return &m.Files[i], true
		}
	}
	return nil, false
}

// EncodeManifest frames m: magic, version, body length, CRC32C of the body,
// then the JSON body.
func EncodeManifest(m *Manifest) ([]byte, error) {
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode manifest: %w", err)
	}
	b := make([]byte, headerSize, headerSize+len(body))
	copy(b, manifestMagic[:])
	binary.LittleEndian.PutUint32(b[8:], uint32(m.Format))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(body, durable.Castagnoli))
	return append(b, body...), nil
}

var (
	workspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	tableNames    = map[string]bool{"profiles": true, "events": true, "identities": true, "identifiers": true, "merges": true}
)

// DecodeManifest parses and validates a manifest read from file (the name
// is used in errors). Every defect is a *durable.CorruptionError with the
// offset of the field at fault.
func DecodeManifest(file string, b []byte) (*Manifest, error) {
	if len(b) < headerSize {
		return nil, durable.Corrupt(file, int64(len(b)), "manifest truncated: %d bytes, header needs %d", len(b), headerSize)
	}
	if [8]byte(b[:8]) != manifestMagic {
		return nil, durable.Corrupt(file, 0, "bad magic %q", b[:8])
	}
	ver := binary.LittleEndian.Uint32(b[8:])
	if ver != FormatVersion {
		return nil, durable.Corrupt(file, 8, "unsupported format version %d", ver)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if n > maxManifest || int(n) != len(b)-headerSize {
		return nil, durable.Corrupt(file, 12, "body length %d, file holds %d bytes after the header", n, len(b)-headerSize)
	}
	body := b[headerSize:]
	if got, want := crc32.Checksum(body, durable.Castagnoli), binary.LittleEndian.Uint32(b[16:]); got != want {
		return nil, durable.Corrupt(file, headerSize, "body checksum %08x, header says %08x", got, want)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		off := int64(headerSize)
		if se, ok := err.(*json.SyntaxError); ok {
			off += se.Offset
		}
		return nil, durable.Corrupt(file, off, "bad manifest body: %v", err)
	}
	if err := m.validate(); err != nil {
		return nil, durable.Corrupt(file, headerSize, "%v", err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Format != int(FormatVersion) {
		return fmt.Errorf("body format %d differs from header", m.Format)
	}
	if !workspaceName.MatchString(m.Workspace) {
		return fmt.Errorf("bad workspace name %q", m.Workspace)
	}
	if m.NextEvent < 1 || m.Persons < 0 {
		return fmt.Errorf("bad counters: next_event %d, persons %d", m.NextEvent, m.Persons)
	}
	if m.EventsThrough < 0 || m.EventsThrough >= m.NextEvent || (m.EventsFrom == 0) != (m.EventsThrough == 0) {
		return fmt.Errorf("bad event window: events_from %d, events_through %d, next_event %d", m.EventsFrom, m.EventsThrough, m.NextEvent)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !tableNames[f.Table] || seen[f.Table] {
			return fmt.Errorf("unknown or repeated table %q", f.Table)
		}
		seen[f.Table] = true
		if f.Name == "" || path.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." || f.Name == ManifestName || durable.IsTemp(f.Name) {
			return fmt.Errorf("bad file name %q", f.Name)
		}
		if f.Rows < 0 || f.Size < 0 {
			return fmt.Errorf("file %s: negative rows or size", f.Name)
		}
		if len(f.Columns) == 0 {
			return fmt.Errorf("file %s: no columns", f.Name)
		}
		names := map[string]bool{}
		for _, c := range f.Columns {
			if c.Name == "" || names[c.Name] {
				return fmt.Errorf("file %s: empty or repeated column %q", f.Name, c.Name)
			}
			names[c.Name] = true
			if !validType(c.Type) {
				return fmt.Errorf("file %s: column %s has unknown type %q", f.Name, c.Name, c.Type)
			}
		}
	}
	if len(seen) != len(tableNames) {
		return fmt.Errorf("%d tables, want %d", len(seen), len(tableNames))
	}
	return nil
}

func validType(t string) bool {
	switch t {
	case "string", "int", "float", "bool", "timestamp", "string_list":
		return true
	}
	return false
}
