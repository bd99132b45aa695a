namespace Bastion.Tor;

/// <summary>What the periodic control-port probe found out about tor.</summary>
public enum TorHealthState
{
    /// <summary>Answering, bootstrapped, circuits established, network live.</summary>
    Healthy,

    /// <summary>Still bootstrapping (not a fault by itself).</summary>
    Bootstrapping,

    /// <summary>No answer on the control port within the probe's deadline (frozen, stopped, overloaded).</summary>
    NotAnswering,

    /// <summary>Tor answers but reaches no relay: network liveness down or no circuit established.</summary>
    NoRelays,

    /// <summary>Tor cannot even open connections: the host has no route (no network in its namespace, cable out).</summary>
    NetworkUnreachable,
}

/// <summary>One probe's findings and the words for them.</summary>
public sealed record TorHealth(TorHealthState State, string Reason)
{
    /// <summary>Open relay connections in a <c>GETINFO orconn-status</c> answer (one line per connection).</summary>
    public static int CountOpenRelayConnections(string orconnStatus) =>
        orconnStatus.Split('\n').Count(l => l.TrimEnd('\r').EndsWith(" CONNECTED", StringComparison.Ordinal));

    public bool Serves => State == TorHealthState.Healthy;

    /// <summary>
    /// Classifies one probe. <paramref name="liveness"/> is <c>GETINFO network-liveness</c> ("up"/"down"),
    /// <paramref name="circuitEstablished"/> is <c>GETINFO status/circuit-established</c> ("1"/"0"); a bootstrap
    /// warning whose reason is NOROUTE (or "Network is unreachable") means the host has no network at all.
    /// <paramref name="relayConnections"/> counts tor's open connections to relays (<c>GETINFO orconn-status</c>, null
    /// when unknown): tor keeps "network-liveness up" and "circuit-established 1" for minutes after every relay is gone,
    /// but a tor that is not <paramref name="dormant"/> always keeps a connection to some relay (its circuits run on them),
    /// so none at all means it reaches no relay.
    /// </summary>
    public static TorHealth Classify(bool answered, TimeSpan deadline, BootstrapPhase? bootstrap, string? liveness, string? circuitEstablished,
        int? relayConnections = null, bool dormant = false)
    {
        if (!answered)
        {
            return new(TorHealthState.NotAnswering, $"tor not answering its control port (no answer within {deadline.TotalSeconds:0} s)");
        }
        if (bootstrap?.Warning is { } warning
            && (warning.Contains("NOROUTE", StringComparison.OrdinalIgnoreCase) || warning.Contains("unreachable", StringComparison.OrdinalIgnoreCase)))
        {
            return new(TorHealthState.NetworkUnreachable, $"network unreachable: tor cannot connect to any relay ({bootstrap})");
        }
        if (bootstrap is { Done: false })
        {
            return new(TorHealthState.Bootstrapping, bootstrap.ToString());
        }
        if (liveness == "down" || circuitEstablished == "0")
        {
            return new(TorHealthState.NoRelays, "no relays reachable: tor " + (liveness == "down" ? "sees its network as down" : "has no circuit established"));
        }
        if (relayConnections == 0 && !dormant)
        {
            return new(TorHealthState.NoRelays, "no relays reachable: tor has no open connection to any relay");
        }
        return new(TorHealthState.Healthy, "bootstrapped 100%");
    }
}
