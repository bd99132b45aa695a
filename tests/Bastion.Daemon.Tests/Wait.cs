namespace Bastion.Daemon.Tests;

/// <summary>Polls a condition on the real clock (what the components do runs on other threads), failing after <paramref name="limit"/>.</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }
}
