// Package delivery is the tree of packages that hand Cohort's decisions
// to the outside world: the gRPC API and its REST gateway today,
// campaigns and destinations next. The root package holds no code; each
// job has its own package:
//
//	delivery/tokens     API tokens per workspace with a scope (read, write,
//	                    admin), stored in a JetStream KV bucket
//	delivery/profile    ProfileService: the 360° profile, events and
//	                    attribute history of one person, from the engine
//	delivery/apiserver  the transport: one gRPC server with authentication,
//	                    per-RPC scope checks, request ids and access logs;
//	                    the REST gateway (NDJSON for streams) and
//	                    /openapi.json; the token admin HTTP API
//	delivery/segstore   segment definitions, enter/exit events and size
//	                    samples in JetStream
//	delivery/segmentapi SegmentService: definitions, counts, previews,
//	                    member exports and enter/exit streams, over the
//	                    segment managers (engine/segment) and segstore
//
// SegmentService's contract (api/segment/v1) is registered by apiserver;
// its implementation is segmentapi's (apiserver.Options.Segments).
package delivery
