# Enums whose numbers are shuffled relative to Hyper-V's: only .ToString() gives the right answer.
if (-not ('MockHyperV.VMState' -as [type])) {
    Add-Type -TypeDefinition @'
namespace MockHyperV {
    public enum VMState { Other = 7, Running = 3, Off = 2, Stopping = 10, Saved = 4, Paused = 11, Starting = 9, Reset = 6, Saving = 32776, Pausing = 32773, Resuming = 1 }
    public enum VMHeartbeatStatus { Unknown = 8, Disabled = 7, NoContact = 6, Error = 5, LostCommunication = 0, OkApplicationsUnknown = 3, OkApplicationsHealthy = 2, OkApplicationsCritical = 1, Paused = 4 }
    public enum ControllerType { IDE = 2, SCSI = 0, PMEM = 1 }
    public enum VhdType { Unknown = 1, Fixed = 4, Dynamic = 2, Differencing = 3 }
    public enum VhdFormat { VHD = 3, VHDX = 1, VHDSet = 2 }
}
'@
}
