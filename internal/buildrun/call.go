package buildrun

import (
	"context"
	"maps"

	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// gatewaySolve runs the frontend of so inside a gateway build, as buildx runs every build (so
// the provenance records the frontend request as buildx's does), and exports the result with
// so's exporters. With a CallFunc f, the frontend answers the subrequest instead (lint for
// --check), nothing is exported, and the response is the subrequest's result metadata.
func gatewaySolve(ctx context.Context, c *client.Client, so client.SolveOpt, f *CallFunc, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	req := gateway.SolveRequest{Frontend: so.Frontend, FrontendOpt: maps.Clone(so.FrontendAttrs)}
	if f != nil {
		caps := "moby.buildkit.frontend.subrequests+forward"
		if v := req.FrontendOpt["frontend.caps"]; v != "" {
			caps = v + "," + caps
		}
		req.FrontendOpt["frontend.caps"] = caps
		req.FrontendOpt["requestid"] = "frontend." + f.Name
		so.Exports = nil
		so.Internal = true
	}
	so.Frontend = "" // the attributes stay: the solver reads attest:* from them, as for buildx
	meta := map[string]string{}
	resp, err := c.Build(ctx, so, "bkctl", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		res, err := gc.Solve(ctx, req)
		if err != nil {
			return nil, err
		}
		if f != nil {
			for k, v := range res.Metadata {
				meta[k] = string(v)
			}
		}
		return res, nil
	}, ch)
	if err != nil {
		return nil, err
	}
	if f != nil {
		return &client.SolveResponse{ExporterResponse: meta}, nil
	}
	return resp, nil
}
