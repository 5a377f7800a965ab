package node

import "github.com/trove-p2p/trove/node/api"

// The daemon's operations, one value each: the route the daemon registers
// (Daemon.routes) and the call Remote makes are written against the same
// value, so a path, argument or result that differs between them does not
// compile. Exposing one more operation is a line here, a line in routes
// and a Remote method calling the endpoint.
var (
	epAdd        = api.EventEndpoint[AddOptions, AddProgress, AddResult]{Path: "/v0/add"}
	epCat        = api.StreamEndpoint[PathArgs]{Path: "/v0/cat"}
	epLs         = api.Endpoint[PathArgs, []LsEntry]{Path: "/v0/ls"}
	epResolve    = api.Endpoint[PathArgs, ResolveResult]{Path: "/v0/resolve"}
	epPinAdd     = api.Endpoint[PinAddArgs, PinInfo]{Path: "/v0/pin/add"}
	epPinRm      = api.Endpoint[PathArgs, PinInfo]{Path: "/v0/pin/rm"}
	epPinLs      = api.Endpoint[struct{}, []PinInfo]{Path: "/v0/pin/ls"}
	epGC         = api.Endpoint[struct{}, GCResult]{Path: "/v0/gc"}
	epRepoStat   = api.Endpoint[struct{}, RepoStat]{Path: "/v0/repo/stat"}
	epRepoVerify = api.EventEndpoint[RepoVerifyOptions, VerifyProgress, RepoVerifyResult]{Path: "/v0/repo/verify"}
	epBlockGet   = api.StreamEndpoint[PathArgs]{Path: "/v0/block/get"}
	epBlockStat  = api.Endpoint[PathArgs, BlockStat]{Path: "/v0/block/stat"}
	epDagExport  = api.StreamEndpoint[PathArgs]{Path: "/v0/dag/export", ContentType: contentCAR}
	epDagImport  = api.UploadEndpoint[DagImportOptions, DagImportResult]{Path: "/v0/dag/import", ContentType: contentCAR}
	// epRefer is get --nocopy's last step: the client has written the
	// output file and the daemon swaps its copies for references to it.
	epRefer = api.Endpoint[ReferArgs, ReferResult]{Path: "/v0/filestore/refer"}

	// Network operations: the Daemon's, not the Node's.
	epID        = api.Endpoint[struct{}, IDResult]{Path: "/v0/id"}
	epPeers     = api.Endpoint[struct{}, []PeerResult]{Path: "/v0/peers"}
	epConnect   = api.Endpoint[ConnectArgs, IDResult]{Path: "/v0/connect"}
	epProvide   = api.Endpoint[PathArgs, ResolveResult]{Path: "/v0/routing/provide"}
	epFindProvs = api.EventEndpoint[FindProvsArgs, ProviderEvent, FindProvsResult]{Path: "/v0/routing/findprovs"}
	epStats     = api.Endpoint[struct{}, StatsResult]{Path: "/v0/stats"}

	// Transfers.
	epFetch = api.EventEndpoint[FetchArgs, FetchProgress, FetchResult]{Path: "/v0/transfer/fetch"}
	// epFetchTo is a get whose output the daemon writes itself, for a
	// caller of its own user on the unix socket (FetchTo).
	epFetchTo = api.EventEndpoint[FetchToArgs, FetchProgress, FetchToResult]{Path: "/v0/transfer/fetch-to"}
	// epFetchToStop stops a running epFetchTo by its ID and lets its
	// caller wait for the clean-up in its own request.
	epFetchToStop = api.Endpoint[FetchToStop, struct{}]{Path: "/v0/transfer/fetch-to/stop"}
	epLimits      = api.Endpoint[LimitsArgs, Limits]{Path: "/v0/transfer/limits"}
	epTransfers   = api.Endpoint[struct{}, TransferStats]{Path: "/v0/transfer/stats"}
	// epFetchBlock serves one block of a download in progress: a get
	// through the daemon writes its output from these while epFetch is
	// still downloading, instead of waiting for the whole DAG.
	epFetchBlock = api.StreamEndpoint[FetchBlockArgs]{Path: "/v0/transfer/block"}

	// epMount is `trove mount` while a daemon runs: the daemon mounts, and
	// the request stays open for the mount's lifetime.
	epMount = api.EventEndpoint[MountArgs, MountEvent, MountResult]{Path: "/v0/mount"}
)

// contentCAR is the media type of a CAR stream, both ways.
const contentCAR = "application/vnd.ipld.car"
