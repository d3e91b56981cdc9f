// Package api holds Cohort's protobuf contracts, the code generated from
// them (committed, so that building and testing need no protoc) and the
// merged OpenAPI document.
//
//	ingest/v1/ingest.proto     cohort.ingest.v1.IngestService (served by ingest/grpcapi)
//	profile/v1/profile.proto   cohort.profile.v1.ProfileService (served by delivery/profile)
//	profile/v1/value.proto     typed values (Value) shared by profiles and segments
//	segment/v1/segment.proto   cohort.segment.v1.SegmentService (its server comes from
//	                           the segment manager; delivery/apiserver registers it)
//	*/v1/*.yaml                each service's REST mapping (grpc-gateway external
//	                           configuration: google/api/annotations.proto is not needed)
//	openapi.yaml               the header of the OpenAPI document
//	*/v1/*.pb.go, *.pb.gw.go   generated: DO NOT EDIT
//	cohort.swagger.json        generated: the OpenAPI 2 document of every REST route
//	                           (protoc-gen-openapiv2, allow_merge), embedded as OpenAPI
//	                           and served at GET /openapi.json
//	client/                    the Go client (Dial(addr, token))
//
// `make generate` regenerates with pinned tools (api/gen.sh: Debian protoc
// 3.21.12, protoc-gen-go v1.36.12, protoc-gen-go-grpc 1.6.0,
// protoc-gen-grpc-gateway and protoc-gen-openapiv2 v2.33.0, installed into
// bin/tools) in one protoc run over every proto, with the route files
// concatenated into one. TestGeneratedFresh regenerates into a temporary
// directory and fails if a committed file differs; it skips, saying why,
// when the tools are missing, unless COHORT_REQUIRE_GENERATE=1 (`make
// generate-check`, CI).
package api
