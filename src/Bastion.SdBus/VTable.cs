using System.Runtime.InteropServices;
using System.Text;

namespace Bastion.SdBus;

/// <summary>
/// An <c>sd_bus_vtable</c> array in unmanaged memory, built from an <see cref="InterfaceDescription"/>, with every string
/// it points to. sd-bus keeps these pointers for as long as the object is registered, so the table lives until
/// <see cref="Dispose"/>, which the owner calls only after the bus connection is gone.
/// Layout (systemd 252, x86-64): 56-byte entries, a u64 <c>type | flags &lt;&lt; 8</c> then a 48-byte union.
/// </summary>
internal sealed unsafe class VTable : IDisposable
{
    public const int EntrySize = 56;
    private const ulong FeatureParamNames = 1;
    private const ulong FlagUnprivileged = 1UL << 2;
    private const ulong FlagPropertyConst = 1UL << 4;
    private const ulong FlagPropertyEmitsChange = 1UL << 5;

    private readonly List<nint> _strings = [];
    private byte* _table;

    public VTable(InterfaceDescription description, nint methodHandler, nint propertyGetter)
    {
        var count = 2 + description.Methods.Count + description.Properties.Count + description.Signals.Count;
        _table = (byte*)NativeMemory.AllocZeroed((nuint)(count * EntrySize));
        var entry = _table;

        Write(entry, '<', 0);
        Put(entry, 8, EntrySize);
        Put(entry, 16, FeatureParamNames);
        Put(entry, 24, FormatReference());
        entry += EntrySize;

        foreach (var m in description.Methods)
        {
            // Who may call what is the D-Bus policy's decision (systemd/org.bastion.Bastion1.conf), not sd-bus's
            // capability check, which would refuse a non-root member of the admin group: every method is UNPRIVILEGED.
            Write(entry, 'M', FlagUnprivileged);
            Put(entry, 8, String(m.Name));
            Put(entry, 16, String(m.InSignature));
            Put(entry, 24, String(m.OutSignature));
            Put(entry, 32, methodHandler);
            Put(entry, 40, 0);
            Put(entry, 48, String(ParameterNames(m.In.Concat(m.Out))));
            entry += EntrySize;
        }
        foreach (var p in description.Properties)
        {
            Write(entry, 'P', p.Const ? FlagPropertyConst : FlagPropertyEmitsChange);
            Put(entry, 8, String(p.Name));
            Put(entry, 16, String(p.Type));
            Put(entry, 24, propertyGetter);
            Put(entry, 32, 0);
            Put(entry, 40, 0);
            entry += EntrySize;
        }
        foreach (var s in description.Signals)
        {
            Write(entry, 'S', 0);
            Put(entry, 8, String(s.Name));
            Put(entry, 16, String(s.Signature));
            Put(entry, 24, String(ParameterNames(s.Args)));
            entry += EntrySize;
        }
        Write(entry, '>', 0);
    }

    public nint Pointer => (nint)_table;

    /// <summary>sd-bus's "names" field: each argument name followed by NUL (the string's own NUL ends the list).</summary>
    internal static string ParameterNames(IEnumerable<BusArgument> args)
    {
        var sb = new StringBuilder();
        foreach (var a in args)
        {
            sb.Append(a.Name).Append('\0');
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        if (_table is not null)
        {
            NativeMemory.Free(_table);
            _table = null;
        }
        foreach (var s in _strings)
        {
            Marshal.FreeCoTaskMem(s);
        }
        _strings.Clear();
    }

    /// <summary>sd-bus checks the table's layout version through the address of its exported format symbol.</summary>
    private static nint FormatReference()
    {
        var library = NativeLibrary.Load(Native.Library);
        return NativeLibrary.GetExport(library, "sd_bus_object_vtable_format");
    }

    private nint String(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var p = Marshal.AllocCoTaskMem(bytes.Length + 1);
        Marshal.Copy(bytes, 0, p, bytes.Length);
        ((byte*)p)[bytes.Length] = 0;
        _strings.Add(p);
        return p;
    }

    private static void Write(byte* entry, char type, ulong flags) => *(ulong*)entry = (byte)type | (flags << 8);

    private static void Put(byte* entry, int offset, nint value) => *(nint*)(entry + offset) = value;

    private static void Put(byte* entry, int offset, ulong value) => *(ulong*)(entry + offset) = value;
}
