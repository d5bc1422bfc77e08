import Foundation

/// Corral's egress NAT: one nftables table of its own (`table ip <name>`) with a
/// postrouting chain that masquerades traffic from the instance subnet leaving
/// through any interface but the bridge.
struct NATRules: Sendable, Equatable {
    let table: String
    let subnet: IPv4Subnet
    let bridge: String

    /// An nft transaction that makes the table exactly this, whatever was there:
    /// create it if missing, delete it, create it again; all or nothing.
    var script: String {
        """
        table ip \(table) {
        }
        delete table ip \(table)
        table ip \(table) {
        \tchain postrouting {
        \t\ttype nat hook postrouting priority srcnat; policy accept;
        \t\tip saddr \(subnet) oifname != "\(bridge)" masquerade
        \t}
        }

        """
    }

    /// Whether `listing` (the output of `nft -j list table ip <table>`) is exactly
    /// this table: one chain, `postrouting`, a nat hook, holding the one rule.
    func matches(listing: String) -> Bool {
        guard let root = try? JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any],
              let objects = root["nftables"] as? [[String: Any]]
        else { return false }
        let chains = objects.compactMap { $0["chain"] as? [String: Any] }
        let rules = objects.compactMap { $0["rule"] as? [String: Any] }
        guard chains.count == 1, let chain = chains.first,
              chain["name"] as? String == "postrouting",
              chain["type"] as? String == "nat",
              chain["hook"] as? String == "postrouting",
              rules.count == 1, let expressions = rules.first?["expr"] as? [[String: Any]]
        else { return false }
        return expressions.contains { $0.keys.contains("masquerade") }
            && expressions.contains(where: matchesSource)
            && expressions.contains(where: matchesOutputInterface)
    }

    private func matchesSource(_ expression: [String: Any]) -> Bool {
        guard let match = expression["match"] as? [String: Any],
              let left = match["left"] as? [String: Any],
              let payload = left["payload"] as? [String: Any],
              payload["field"] as? String == "saddr",
              let right = match["right"] as? [String: Any],
              let prefix = right["prefix"] as? [String: Any]
        else { return false }
        return prefix["addr"] as? String == subnet.network.description
            && prefix["len"] as? Int == subnet.prefixLength
    }

    private func matchesOutputInterface(_ expression: [String: Any]) -> Bool {
        guard let match = expression["match"] as? [String: Any],
              match["op"] as? String == "!=",
              let left = match["left"] as? [String: Any],
              let meta = left["meta"] as? [String: Any],
              meta["key"] as? String == "oifname"
        else { return false }
        return match["right"] as? String == bridge
    }
}
