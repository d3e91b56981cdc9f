package apiserver

import (
	"strings"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/tokens"
)

// Scopes is the scope each RPC of the token-protected services needs.
// A method of those services missing here is refused (fail closed).
var Scopes = map[string]tokens.Scope{
	profilev1.ProfileService_GetProfile_FullMethodName: tokens.ScopeRead,
	profilev1.ProfileService_ListEvents_FullMethodName: tokens.ScopeRead,
	profilev1.ProfileService_GetHistory_FullMethodName: tokens.ScopeRead,

	segmentv1.SegmentService_CreateSegment_FullMethodName:  tokens.ScopeWrite,
	segmentv1.SegmentService_DeleteSegment_FullMethodName:  tokens.ScopeWrite,
	segmentv1.SegmentService_GetSegment_FullMethodName:     tokens.ScopeRead,
	segmentv1.SegmentService_ListSegments_FullMethodName:   tokens.ScopeRead,
	segmentv1.SegmentService_CountSegment_FullMethodName:   tokens.ScopeRead,
	segmentv1.SegmentService_PreviewSegment_FullMethodName: tokens.ScopeRead,
	segmentv1.SegmentService_StreamMembers_FullMethodName:  tokens.ScopeRead,
	segmentv1.SegmentService_WatchSegment_FullMethodName:   tokens.ScopeRead,
}

// protectedServices are the services whose calls need an API token; other
// services on the same server (IngestService: write keys) authenticate
// themselves.
var protectedServices = []string{
	"/" + profilev1.ProfileService_ServiceDesc.ServiceName + "/",
	"/" + segmentv1.SegmentService_ServiceDesc.ServiceName + "/",
}

// protected reports whether a full method name needs a token, and the
// scope (0 if the method is unknown: refused).
func protected(method string) (tokens.Scope, bool) {
	for _, p := range protectedServices {
		if strings.HasPrefix(method, p) {
			return Scopes[method], true
		}
	}
	return 0, false
}
