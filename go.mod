module agora

go 1.26.8

require (
	github.com/go-zookeeper/zk v1.0.4
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.50.0
)
