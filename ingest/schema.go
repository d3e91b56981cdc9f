package ingest

import "github.com/cohortdb/cohort/ingest/norm"

// Schema returns a column-type lookup over a workspace's latest snapshot,
// for ingest APIs outside this package (ingest/grpcapi).
func (s *Service) Schema(workspace string) norm.Schema { return s.schema(workspace) }
