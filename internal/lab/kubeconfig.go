package lab

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfig returns a one-context kubeconfig for the member: the context and
// cluster are named after the member, the user after the identity.
func kubeconfig(c *Cluster, caPEM []byte, user, token string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{
		Server:                   c.Server,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: user}
	cfg.CurrentContext = c.Name
	return cfg
}

// writeCombinedKubeconfig writes one kubeconfig holding every member as a
// context with admin credentials, for kubectl --context NAME.
func writeCombinedKubeconfig(path string, clusters []*Cluster, caPEM []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range clusters {
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: caPEM}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: adminUser}
	}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: token}
	if len(clusters) > 0 {
		cfg.CurrentContext = clusters[0].Name
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// ClientFor builds a clientset from a kubeconfig file. The lab writes many
// objects in a burst at start, so the client may send 100 requests a second
// (bursts of 200) instead of client-go's default 5; tune, when given, may
// change the REST config further before the clientset is made.
func ClientFor(path string, tune ...func(*rest.Config)) (*kubernetes.Clientset, *rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, nil, err
	}
	rc.QPS, rc.Burst = 100, 200
	for _, fn := range tune {
		fn(rc)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, err
	}
	return cs, rc, nil
}
