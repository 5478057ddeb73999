package lab

import (
	"fmt"
	"strings"
)

// KnotSecondaryConf renders the configuration of a Knot DNS secondary
// (knotd) listening on 127.0.0.1:port: zone slaved to primary (host:port),
// NOTIFY accepted from it, storage in dir, nothing written to a zone file.
func KnotSecondaryConf(dir string, port int, primary, zone string) string {
	host, pport, _ := strings.Cut(primary, ":")
	return KnotServerConf(dir, port, "info") + fmt.Sprintf(`
remote:
  - id: primary
    address: %[1]s@%[2]s

acl:
  - id: notify-from-primary
    address: %[1]s
    action: notify

template:
  - id: default
    storage: "%[3]s"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes

zone:
  - domain: %[4]s.
    master: primary
    acl: notify-from-primary
`, host, pport, dir, strings.TrimSuffix(zone, "."))
}

// KnotServerConf renders the server, log and database sections of a knotd
// configuration: one UDP, one TCP and one background worker on
// 127.0.0.1:port, its run directory and storage in dir, logging to stderr
// from level up.
func KnotServerConf(dir string, port int, level string) string {
	return fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

log:
  - target: stderr
    any: %[3]s

database:
    storage: "%[1]s"
`, dir, port, level)
}
