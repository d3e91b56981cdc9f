// Package api holds Cohort's protobuf contracts and the code generated
// from them, committed so that building and testing need no protoc.
//
//	ingest/v1/ingest.proto   cohort.ingest.v1.IngestService (served by ingest/grpcapi)
//	ingest/v1/ingest.yaml    its REST mapping (grpc-gateway external configuration:
//	                         google/api/annotations.proto is not needed)
//	ingest/v1/*.pb.go, *.pb.gw.go, *.swagger.json   generated: DO NOT EDIT
//
// `make generate` regenerates with pinned tools (api/gen.sh: Debian protoc
// 3.21.12, protoc-gen-go v1.36.12, protoc-gen-go-grpc 1.6.0,
// protoc-gen-grpc-gateway and protoc-gen-openapiv2 v2.33.0, installed into
// bin/tools). TestGeneratedFresh regenerates into a temporary directory and
// fails if a committed file differs; it skips, saying why, when the tools
// are missing, unless COHORT_REQUIRE_GENERATE=1 (`make generate-check`, CI).
package api
