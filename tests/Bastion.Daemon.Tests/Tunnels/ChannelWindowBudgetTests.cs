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
        Assert.Equal(TcpipChannel.LocalWindow, TcpipChannels.WindowFor(0));
        Assert.Equal(TcpipChannel.LocalWindow, TcpipChannels.WindowFor(TcpipChannels.WindowBudget - TcpipChannel.LocalWindow));
    }

    [Fact]
    public void Near_the_end_of_the_budget_a_channel_gets_what_is_left_and_past_it_the_minimum()
    {
        Assert.Equal(300_000u, TcpipChannels.WindowFor(TcpipChannels.WindowBudget - 300_000));
        Assert.Equal(TcpipChannels.MinWindow, TcpipChannels.WindowFor(TcpipChannels.WindowBudget - 1));
        Assert.Equal(TcpipChannels.MinWindow, TcpipChannels.WindowFor(TcpipChannels.WindowBudget * 4));
    }

    [Fact]
    public void A_thousand_held_channels_are_given_at_most_the_budget_plus_the_minimum_each()
    {
        long granted = 0;
        for (var i = 0; i < 1000; i++)
        {
            granted += TcpipChannels.WindowFor(granted);
        }
        Assert.True(granted <= TcpipChannels.WindowBudget + 1000L * TcpipChannels.MinWindow, $"granted {granted}");
        Assert.True(granted < 1000L * TcpipChannel.LocalWindow / 10, $"granted {granted}: not 2 MiB each");
        Assert.True(TcpipChannels.MinWindow >= 2 * TcpipChannel.LocalPacket, "a window holds at least two packets");
    }
}
