// Package shardhealth probes the load-balancer addresses of federation shards and
// tracks member-cluster liveness, so that federation answers only addresses that work.
package shardhealth
