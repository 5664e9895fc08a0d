"""Peak resident memory of this process over a window (Linux /proc), for the examples' memory
tables: reset the high-water mark after set-up, read it after the work."""
import resource


def status_mib(key):
    """A /proc/self/status field (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def reset_peak():
    """Resets VmHWM to the current RSS (clear_refs 5, Linux >= 4.0); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def start_peak_window():
    """Resets the RSS high-water mark so that the peak read by peak_since() is the work's, not
    that of loading data; returns the RSS now (MiB). Without /proc the lifetime high-water
    mark stands in."""
    if reset_peak():
        return status_mib("VmRSS")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_since():
    """The RSS high-water mark (MiB) since start_peak_window()."""
    try:
        return status_mib("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
