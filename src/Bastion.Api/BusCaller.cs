namespace Bastion.Api;

/// <summary>A method call's sender: its unique bus name, and its uid and pid when the bus told them (else <see cref="Problem"/> says why).</summary>
public sealed record BusCaller(string UniqueName, uint? Uid, uint? Pid, string? Problem)
{
    /// <summary>For logs: "uid 0 (root) pid 1234 :1.42"; "uid ? pid ? :1.42 (why)" when the bus did not say.</summary>
    public string Describe(Func<uint, string?> nameOf)
    {
        var who = Uid is { } uid ? $"uid {uid}" + (nameOf(uid) is { Length: > 0 } name ? $" ({name})" : "") : "uid ?";
        var pid = Pid is { } p ? $"pid {p}" : "pid ?";
        return $"{who} {pid} {UniqueName}" + (Problem is null ? "" : $" ({Problem})");
    }
}
