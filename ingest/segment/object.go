package segment

// ParseObject parses one JSON object as the Segment API does (numbers kept
// as json.Number; FieldError on malformed JSON or a non-object), for
// callers that decode messages themselves, such as the bulk importer.
func ParseObject(data []byte) (map[string]any, error) { return parseObject(data) }
