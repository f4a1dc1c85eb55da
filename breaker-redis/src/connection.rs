//! What a breaker connects to: one Redis node, or a Redis Cluster.
//!
//! The driver sees one command connection ([`Con`]) and one pub/sub connection whatever the
//! target. For a cluster:
//!
//! - Commands go through the redis crate's cluster client: it reads the slot map from any node it
//!   is given, sends each `EVALSHA` to the master that owns the slot of its first key (the
//!   breaker's hash-tagged `{namespace:name}:state`), follows `MOVED` (and rebuilds its slot map)
//!   and `ASK`, and sends a `SCRIPT LOAD` after `NOSCRIPT` to every master. Every read is the
//!   script's `read` and every `TIME` is taken inside the script, so both come from the node that
//!   owns the slot: one clock, as on a single node.
//! - Pub/sub: the script's plain `PUBLISH` is forwarded by Redis Cluster to every node, so the
//!   view subscribes (`SUBSCRIBE`, RESP2) on any one reachable node of the list given, trying the
//!   next one after a failure. Sharded pub/sub (`SPUBLISH`) was not chosen: see the README.

use core::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::executor::Executor;

/// The Redis a breaker uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// One node (or a proxy in front of several).
    Node(String),
    /// Some nodes of a Redis Cluster; the others are found from them.
    Cluster(Vec<String>),
}

/// A parsed [`Target`].
#[derive(Clone)]
pub(crate) enum Client {
    Node(redis::Client),
    Cluster {
        // Boxed: the cluster client's parameters are much larger than a node's client.
        client: Box<redis::cluster::ClusterClient>,
        /// One client per node given, for the pub/sub connection.
        nodes: Vec<redis::Client>,
    },
}

impl Client {
    /// Parses `target`; commands and connections time out after `timeout`.
    pub(crate) fn open(target: &Target, timeout: Duration) -> RedisResult<Self> {
        Ok(match target {
            Target::Node(url) => Client::Node(redis::Client::open(url.as_str())?),
            Target::Cluster(urls) => Client::Cluster {
                client: Box::new(
                    ClusterClientBuilder::new(urls.iter().map(String::as_str))
                        .connection_timeout(timeout)
                        .response_timeout(timeout)
                        .build()?,
                ),
                nodes: urls
                    .iter()
                    .map(|u| redis::Client::open(u.as_str()))
                    .collect::<RedisResult<_>>()?,
            },
        })
    }

    /// How many nodes were given (1 for a single node).
    pub(crate) fn nodes(&self) -> u32 {
        match self {
            Client::Node(_) => 1,
            Client::Cluster { nodes, .. } => nodes.len().try_into().unwrap_or(u32::MAX),
        }
    }

    /// The command connection. The caller bounds the time it takes.
    pub(crate) async fn connect(&self, timeout: Duration) -> RedisResult<Con> {
        match self {
            Client::Node(c) => {
                let cfg = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                Ok(Con::Node(
                    c.get_multiplexed_async_connection_with_config(&cfg).await?,
                ))
            }
            Client::Cluster { client, .. } => {
                Ok(Con::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// A pub/sub connection subscribed to `channel`. In a cluster, the nodes given are tried in
    /// turn from the `attempt`-th (each within `timeout`), so a session after a failed one
    /// starts with another node.
    pub(crate) async fn subscribe(
        &self,
        exec: &Executor,
        channel: &str,
        attempt: usize,
        timeout: Duration,
    ) -> RedisResult<redis::aio::PubSub> {
        let nodes = match self {
            Client::Node(c) => core::slice::from_ref(c),
            Client::Cluster { nodes, .. } => nodes.as_slice(),
        };
        let mut last = None;
        for i in 0..nodes.len() {
            let node = &nodes[(attempt + i) % nodes.len()];
            let one = async {
                let mut pubsub = node.get_async_pubsub().await?;
                pubsub.subscribe(channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            match exec.timeout(timeout, one).await {
                Some(Ok(p)) => return Ok(p),
                Some(Err(e)) => last = Some(e),
                None => last = Some(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
            }
        }
        Err(last.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "no redis node to subscribe on"))
        }))
    }
}

/// The command connection: to one node, or to every master of a cluster (routed by key).
pub(crate) enum Con {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Con {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Con::Node(c) => c.req_packed_command(cmd),
            Con::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Con::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Con::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Con::Node(c) => c.get_db(),
            Con::Cluster(c) => c.get_db(),
        }
    }
}
