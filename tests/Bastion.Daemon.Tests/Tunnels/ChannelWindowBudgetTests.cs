using Bastion.Daemon.Tunnels;

namespace Bastion.Daemon.Tests.Tunnels;

/// <summary>
/// The windows of one session's direct-tcpip channels share a budget, so clients that connect and never read cannot make
/// bastiond buffer 2 MiB each.
/// </summary>
public sealed class ChannelWindowBudgetTests
{
    [Fact]
    public void The_first_channels_get_openssh_s_two_mebibyte_window()
    {
        Assert.Equal(DirectTcpipChannel.LocalWindow, DirectTcpipChannels.WindowFor(0));
        Assert.Equal(DirectTcpipChannel.LocalWindow, DirectTcpipChannels.WindowFor(DirectTcpipChannels.WindowBudget - DirectTcpipChannel.LocalWindow));
    }

    [Fact]
    public void Near_the_end_of_the_budget_a_channel_gets_what_is_left_and_past_it_the_minimum()
    {
        Assert.Equal(300_000u, DirectTcpipChannels.WindowFor(DirectTcpipChannels.WindowBudget - 300_000));
        Assert.Equal(DirectTcpipChannels.MinWindow, DirectTcpipChannels.WindowFor(DirectTcpipChannels.WindowBudget - 1));
        Assert.Equal(DirectTcpipChannels.MinWindow, DirectTcpipChannels.WindowFor(DirectTcpipChannels.WindowBudget * 4));
    }

    [Fact]
    public void A_thousand_held_channels_are_given_at_most_the_budget_plus_the_minimum_each()
    {
        long granted = 0;
        for (var i = 0; i < 1000; i++)
        {
            granted += DirectTcpipChannels.WindowFor(granted);
        }
        Assert.True(granted <= DirectTcpipChannels.WindowBudget + 1000L * DirectTcpipChannels.MinWindow, $"granted {granted}");
        Assert.True(granted < 1000L * DirectTcpipChannel.LocalWindow / 10, $"granted {granted}: not 2 MiB each");
        Assert.True(DirectTcpipChannels.MinWindow >= 2 * DirectTcpipChannel.LocalPacket, "a window holds at least two packets");
    }
}
