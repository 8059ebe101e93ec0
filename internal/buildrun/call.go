package buildrun

import (
	"context"
	"maps"

	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// callSolve evaluates the build through the frontend's subrequest f (lint for --check) in a
// gateway build, as buildx does, and returns the subrequest's result metadata as the response.
func callSolve(ctx context.Context, c *client.Client, so client.SolveOpt, f *CallFunc, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	req := gateway.SolveRequest{Frontend: so.Frontend, FrontendOpt: maps.Clone(so.FrontendAttrs)}
	caps := "moby.buildkit.frontend.subrequests+forward"
	if v := req.FrontendOpt["frontend.caps"]; v != "" {
		caps = v + "," + caps
	}
	req.FrontendOpt["frontend.caps"] = caps
	req.FrontendOpt["requestid"] = "frontend." + f.Name
	so.Frontend, so.FrontendAttrs, so.Exports = "", nil, nil
	so.Internal = true
	meta := map[string]string{}
	_, err := c.Build(ctx, so, "bkctl", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		res, err := gc.Solve(ctx, req)
		if err != nil {
			return nil, err
		}
		for k, v := range res.Metadata {
			meta[k] = string(v)
		}
		return res, nil
	}, ch)
	if err != nil {
		return nil, err
	}
	return &client.SolveResponse{ExporterResponse: meta}, nil
}
