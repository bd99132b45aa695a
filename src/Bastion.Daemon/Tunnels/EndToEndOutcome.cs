namespace Bastion.Daemon.Tunnels;

/// <summary>What the end-to-end check of a remote forward found (the words are made from it, never the other way).</summary>
internal enum EndToEndOutcome
{
    /// <summary>A connection through the server's bound port reached the local target.</summary>
    Ok,

    /// <summary>The forward carried the connection here, but the local target refused it: restarting the tunnel cannot help.</summary>
    TargetRefused,

    /// <summary>Nothing came back through the server's bound port in time.</summary>
    NoAnswerThroughServer,

    /// <summary>This machine's loopback connection for the check failed.</summary>
    LocalError,
}

/// <summary>An end-to-end check's outcome and its sentence for status.</summary>
internal sealed record EndToEndResult(EndToEndOutcome Outcome, string Detail)
{
    public static readonly EndToEndResult Ok = new(EndToEndOutcome.Ok, "ok");
}
