package column

// Chunk is a horizontal slice of a table: up to ChunkRows rows, one Vec per
// column index (nil, or an index past len(Cols), means NULL in every row).
// A published Chunk is immutable; a writer that deletes rows copies the
// Chunk struct and its Del bitmap first (see engine/table).
type Chunk struct {
	Slot int    // stable position in the table: row id = Slot<<ChunkBits | offset
	Rows int    // rows stored, deleted ones included
	Cols []*Vec // by column index
	Del  Bitmap // deleted rows; nil when none
	Dead int    // number of set bits in Del
	Gen  uint64 // writer generation that owns this struct (copy-on-write marker)
}

// Col returns the vector of column i, or nil when the column is NULL here.
func (c *Chunk) Col(i int) *Vec {
	if i < len(c.Cols) {
		return c.Cols[i]
	}
	return nil
}

// Live returns the number of rows not deleted.
func (c *Chunk) Live() int { return c.Rows - c.Dead }

// Bytes returns the memory held by the chunk's vectors and delete bitmap.
func (c *Chunk) Bytes() int64 {
	n := int64(len(c.Del)) * 8
	for _, v := range c.Cols {
		n += v.Bytes()
	}
	return n
}

// ColumnDef describes one column of a table.
type ColumnDef struct {
	Name  string
	Type  Type
	Index int
	Dict  *Dictionary // string and string-list columns
}

// Schema is an immutable, ordered set of columns. Adding a column makes a
// new Schema, so readers holding the old one are undisturbed.
type Schema struct {
	Cols   []*ColumnDef
	byName map[string]int
}

// NewSchema returns a schema with the given columns, indexed in order.
func NewSchema(defs ...ColumnDef) *Schema {
	s := &Schema{byName: make(map[string]int, len(defs))}
	for _, d := range defs {
		s = s.With(d.Name, d.Type)
	}
	return s
}

// With returns a copy of s with one more column.
func (s *Schema) With(name string, t Type) *Schema {
	n := &Schema{Cols: make([]*ColumnDef, len(s.Cols), len(s.Cols)+1), byName: make(map[string]int, len(s.Cols)+1)}
	copy(n.Cols, s.Cols)
	for k, v := range s.byName {
		n.byName[k] = v
	}
	d := &ColumnDef{Name: name, Type: t, Index: len(s.Cols)}
	if t == TypeString || t == TypeStringList {
		d.Dict = NewDictionary()
	}
	n.Cols = append(n.Cols, d)
	n.byName[name] = d.Index
	return n
}

// Lookup returns the column named name.
func (s *Schema) Lookup(name string) (*ColumnDef, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return s.Cols[i], true
}
