// Package federation answers the DNS names of federated Kubernetes Services.
package federation
