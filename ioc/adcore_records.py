"""Records of the areaDetector PVs the emulated camera serves: the one place their types,
menus, units and start-up values are set.

Transcribed from areaDetector's database templates (repositories ``areaDetector/ADCore``
and ``areaDetector/ADSimDetector``): ADBase, NDArrayBase, NDPluginBase, NDFile, NDFileTIFF,
NDStdArrays, NDStats and simDetector.template, plus start-up values the driver sets
(simDetector.cpp). ``tests/test_ad_contract.py`` checks every record against a table
derived from the current templates (``tests/data/adcore_templates.json``, made by
``tests/derive_adcore_table.py``) and lists each remaining difference with its reason.

PVs ophyd still references that current templates no longer define are marked
``# not in current ADCore`` with their source: PoolMaxBuffers (NDArrayBase/NDPluginBase of
ADCore R2), FileNumber_Sync and FileNumber_write (NDFile.template of ADCore R2),
TSControl/TSRead/TSNumPoints/TSCurrentPoint/TSAcquiring (NDStats.template of ADCore R2; in
R3 they moved to the NDTimeSeries plugin at ``Stats1:TS:``).

Conventions:

* one ``Record`` per PV name, or per setpoint/readback pair (``rbv=True``: the template also
  defines ``suffix + '_RBV'``, by default the input record of the setpoint's type with the
  same menu and PREC; ``rbv_record``, ``rbv_enum_strings``, ``rbv_precision`` say where the
  template's readback differs);
* ``record`` is the template's record type (``busy``, ``calc``, ``calcout``, ``dfanout``,
  ``fanout``, ``sseq``, ``asyn`` and ``subArray`` included; records whose work is linking
  other records hold a value but do not process);
* ``value`` is the start-up value: the template's VAL where it has one (PINI records write
  it to the driver at iocInit), otherwise what the driver sets, chosen for a 640 x 480
  UInt32 mono camera on asyn port SIM1; enum values are indices, strings are ``str``,
  numeric waveforms start empty (``()``);
* the tuples are meant to be combined per prefix (cam1: AD_BASE + SIM_DETECTOR; TIFF1:
  ND_PLUGIN_BASE + ND_FILE + ND_FILE_TIFF; image1: ND_PLUGIN_BASE + ND_STD_ARRAYS;
  Stats1: ND_PLUGIN_BASE + ND_STATS).  When a later tuple repeats a suffix it
  redefines that record, as the template does (ND_FILE_TIFF's FileFormat, SIM_DETECTOR's
  ColorMode).
"""
from typing import NamedTuple


class Record(NamedTuple):
    suffix: str            # PV name after the plugin prefix, e.g. 'AcquireTime' (the setpoint name if it has a readback)
    record: str            # EPICS record type of the setpoint (or of the readback for read-only PVs): 'ao','ai','longout','longin','bo','bi','mbbo','mbbi','stringout','stringin','waveform'
    value: object = 0      # initial value as in the template (VAL / what the driver initialises; for enums the index as int)
    rbv: bool = False      # True if the template also defines suffix + '_RBV' (the readback record)
    enum_strings: tuple = ()   # ZNAM/ONAM for bo/bi, ZRST.. for mbbo/mbbi, in order
    units: str = ''        # EGU
    precision: int = 0     # PREC for ao/ai
    ftvl: str = ''         # for waveforms: 'CHAR' (strings as char arrays), 'DOUBLE', 'LONG', 'ULONG', 'SHORT', 'USHORT', 'FLOAT', 'INT64' ...
    nelm: int = 0          # for waveforms: NELM
    doc: str = ''          # one short phrase from the template's comment/DESC
    rbv_record: str = ''   # record type of the _RBV readback where it is not the setpoint's input type
    rbv_enum_strings: tuple = ()  # the _RBV readback's menu where it differs from the setpoint's
    rbv_precision: int = -1  # the _RBV readback's PREC where it differs from the setpoint's
    severities: tuple = ()  # alarm severity of each state (ZSV/OSV, ZRSV...), for bo/bi/mbbo/mbbi
    rbv_severities: tuple = ()  # the same for the _RBV readback


# Menus shared by several templates
NO_YES = ('No', 'Yes')
DISABLE_ENABLE = ('Disable', 'Enable')
DATA_TYPES = ('Int8', 'UInt8', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64', 'UInt64',
              'Float32', 'Float64')
COLOR_MODES = ('Mono', 'Bayer', 'RGB1', 'RGB2', 'RGB3', 'YUV444', 'YUV422', 'YUV421')
BAYER_PATTERNS = ('RGGB', 'GBRG', 'GRBG', 'BGGR')
OK_MINOR = ('NO_ALARM', 'MINOR')  # ZSV/OSV of the templates' busy/enable readbacks
DETECTOR_STATES = ('Idle', 'Acquire', 'Readout', 'Correct', 'Saving', 'Aborting', 'Error',
                   'Waiting', 'Initializing', 'Disconnected', 'Aborted')

# Sizes standing in for the templates' macros
MAX_SIZE_X = 640           # $(XSIZE)
MAX_SIZE_Y = 480           # $(YSIZE)
NELEMENTS = MAX_SIZE_X * MAX_SIZE_Y   # $(NELEMENTS) of NDStdArrays' ArrayData
HIST_SIZE = 256            # $(HIST_SIZE) of NDStats
NCHANS = 2048              # $(NCHANS), time-series length (commonPlugins.cmd default)
QSIZE = 20                 # plugin queue size (commonPlugins.cmd $(QSIZE))


def _nd_array_base(values: dict) -> tuple:
    """NDArrayBase.template (included by ADBase and NDPluginBase), start-up values replaced."""
    dims = []
    for i in range(10):
        dims += [
            Record(f'Dim{i}SA', 'subArray', (), rbv=True, ftvl='LONG', nelm=1, rbv_record='subArray',
                   doc=f'subArray: element {i} of Dimensions (Dim{i}SA_RBV: of Dimensions_RBV)'),
            Record(f'ArraySize{i}', 'longin', 0, rbv=True,
                   doc=f'size of array dimension {i} (ArraySize{i}_RBV: of the last array)'),
        ]
    records = (
        Record('ADCoreVersion_RBV', 'stringin', 'Unknown', doc='version of ADCore'),
        Record('DriverVersion_RBV', 'stringin', 'Unknown', doc='version of the driver or plugin'),
        Record('PortName_RBV', 'stringin', 'Unknown', doc='asyn port name of this detector/plugin'),
        Record('Manufacturer_RBV', 'stringin', 'Unknown', doc='detector manufacturer'),
        Record('Model_RBV', 'stringin', 'Unknown', doc='detector model'),
        Record('SerialNumber_RBV', 'stringin', 'Unknown', doc='detector serial number'),
        Record('SDKVersion_RBV', 'stringin', 'Unknown', doc='vendor SDK version'),
        Record('FirmwareVersion_RBV', 'stringin', 'Unknown', doc='detector firmware version'),
        Record('Acquire', 'bo', 0, rbv=True, enum_strings=('Done', 'Acquire'), rbv_severities=OK_MINOR,
               rbv_enum_strings=('Done', 'Acquiring'),
               doc='start/stop acquisition (Acquire_RBV menu: Done/Acquiring)'),
        Record('AcquireBusy', 'busy', 0, enum_strings=('Done', 'Acquiring'), severities=OK_MINOR,
               doc='busy record: 1 from Acquire until acquisition and plugins are done'),
        Record('AcquireBusyCB', 'bi', 0, enum_strings=('Done', 'Acquiring'), severities=OK_MINOR,
               doc='driver callback that clears AcquireBusy'),
        Record('WaitForPlugins', 'bo', 0, enum_strings=NO_YES,
               doc='AcquireBusy waits for plugins to finish'),
        Record('NDimensions', 'longout', 0, rbv=True, doc='number of array dimensions'),
        Record('Dimensions', 'waveform', (), rbv=True, ftvl='LONG', nelm=10,
               doc='array dimensions'),
        *dims,
        Record('BayerPattern_RBV', 'mbbi', 0, enum_strings=BAYER_PATTERNS,
               doc='Bayer pattern of the array'),
        Record('ArraySizeX_RBV', 'longin', 0, doc='array size X'),
        Record('ArraySizeY_RBV', 'longin', 0, doc='array size Y'),
        Record('ArraySizeZ_RBV', 'longin', 0, doc='array size Z'),
        Record('ArraySize_RBV', 'longin', 0, doc='array size in bytes'),
        Record('Codec_RBV', 'stringin', '', doc='compression codec of the array'),
        Record('CompressedSize_RBV', 'longin', 0, doc='compressed size in bytes'),
        Record('DataType', 'mbbo', 0, rbv=True, enum_strings=DATA_TYPES,
               doc='data type (VAL is $(DATATYPE=0))'),
        Record('ColorMode', 'mbbo', 0, rbv=True, enum_strings=COLOR_MODES,
               doc='color mode, agrees with NDColorMode_t'),
        Record('UniqueId_RBV', 'longin', 0, doc='uniqueId of the array'),
        Record('TimeStamp_RBV', 'ai', 0.0, precision=3, doc='time stamp of the array'),
        Record('EpicsTSSec_RBV', 'longin', 0, doc='epicsTS.secPastEpoch of the array'),
        Record('EpicsTSNsec_RBV', 'longin', 0, doc='epicsTS.nsec of the array'),
        Record('ArrayCounter', 'longout', 0, rbv=True, doc='array callback counter'),
        Record('ArrayRate_RBV', 'calc', 0.0, units='Hz', precision=2,
               doc='calc record: array callback rate'),
        Record('ArrayCallbacks', 'bo', 1, rbv=True, enum_strings=DISABLE_ENABLE, severities=OK_MINOR,
               rbv_severities=OK_MINOR,
               doc='enable NDArray callbacks'),
        Record('NDAttributesMacros', 'waveform', '', ftvl='CHAR', nelm=256,
               doc='macro definitions for the attributes file'),
        Record('NDAttributesFile', 'waveform', '', ftvl='CHAR', nelm=256,
               doc='name of a file defining attributes'),
        Record('NDAttributesStatus', 'mbbi', 0, severities=('NO_ALARM', 'MINOR', 'MAJOR', 'MAJOR'),
               enum_strings=('Attributes file OK', 'File not found', 'XML syntax error',
                             'Macro substitution error'),
               doc='status of reading the attributes file'),
        Record('PoolMaxMem', 'ai', 0.0, units='MB', precision=1, doc='NDArrayPool maximum memory'),
        # not in current ADCore: PoolMaxBuffers is in NDArrayBase.template of ADCore R2
        # (bc516129) and R2 NDPluginBase.template; ophyd's PluginBase/ADBase reference it.
        Record('PoolMaxBuffers', 'longin', 0,
               doc='NDArrayPool maximum buffers (ADCore R2 NDArrayBase.template)'),
        Record('PoolPollStats', 'bo', 0, doc='polls the pool statistics (SCAN 1 second)'),
        Record('PoolUsedMem', 'ai', 0.0, units='MB', precision=1, doc='NDArrayPool memory used'),
        Record('PoolAllocBuffers', 'longin', 0, doc='NDArrayPool buffers allocated'),
        Record('PoolFreeBuffers', 'longin', 0, doc='NDArrayPool buffers free'),
        Record('PoolUsedBuffers', 'calc', 0.0, doc='calc record: PoolAllocBuffers - PoolFreeBuffers'),
        Record('EmptyFreeList', 'bo', 0, doc='empty the NDArrayPool free list'),
        Record('PreAllocBuffers', 'busy', 0, enum_strings=('Done', 'Allocate'),
               doc='busy record: pre-allocate buffers'),
        Record('NumPreAllocBuffers', 'longout', 100, rbv=True,
               doc='number of buffers to pre-allocate'),
        Record('NumQueuedArrays', 'longin', 0, doc='arrays queued in plugins'),
        Record('SetAcquireBusy', 'calcout', 0.0, doc='sets AcquireBusy when Acquire goes to 1'),
        Record('ClearAcquireBusy', 'calcout', 0.0, doc='clears AcquireBusy when AcquireBusyCB goes to 0'),
    )
    return tuple(r._replace(value=values.get(r.suffix, r.value)) for r in records)


# ADBase.template (includes NDArrayBase.template); start-up values of a 640 x 480 UInt32
# mono simDetector on asyn port SIM1 (simDetectorConfig("SIM1", 640, 480, 5, ...)).
AD_BASE: tuple[Record, ...] = _nd_array_base({
    'PortName_RBV': 'SIM1',
    'Manufacturer_RBV': 'Simulated detector',   # simDetector.cpp
    'Model_RBV': 'Basic simulator',             # simDetector.cpp
    'SerialNumber_RBV': 'No serial number',     # simDetector.cpp
    'FirmwareVersion_RBV': 'No firmware',       # simDetector.cpp
    'DataType': 5,                              # UInt32 (dataType argument of simDetectorConfig)
    'ColorMode': 0,                             # Mono
    'ArraySizeX_RBV': MAX_SIZE_X,               # simDetector.cpp sets NDArraySizeX = maxSizeX
    'ArraySizeY_RBV': MAX_SIZE_Y,               # simDetector.cpp sets NDArraySizeY = maxSizeY
}) + (
    Record('MaxSizeX_RBV', 'longin', MAX_SIZE_X, doc='maximum image width (driver)'),
    Record('MaxSizeY_RBV', 'longin', MAX_SIZE_Y, doc='maximum image height (driver)'),
    Record('BinX', 'longout', 1, rbv=True, doc='binning X'),
    Record('BinY', 'longout', 1, rbv=True, doc='binning Y'),
    Record('MinX', 'longout', 0, rbv=True, doc='region start X'),
    Record('MinY', 'longout', 0, rbv=True, doc='region start Y'),
    Record('SizeX', 'longout', MAX_SIZE_X, rbv=True,
           doc='region size X (template VAL 1; full frame as the driver and autosave set)'),
    Record('SizeY', 'longout', MAX_SIZE_Y, rbv=True,
           doc='region size Y (template VAL 1; full frame as the driver and autosave set)'),
    Record('ReverseX', 'bo', 0, rbv=True, enum_strings=NO_YES, doc='reverse image in X'),
    Record('ReverseY', 'bo', 0, rbv=True, enum_strings=NO_YES, doc='reverse image in Y'),
    Record('AcquireTime', 'ao', 1.0, rbv=True, precision=3, doc='acquisition (exposure) time, s'),
    Record('AcquirePeriod', 'ao', 0.0, rbv=True, precision=3, doc='acquisition period, s'),
    Record('TimeRemaining_RBV', 'ai', 0.0, precision=3, doc='time remaining in acquisition'),
    Record('Gain', 'ao', 1.0, rbv=True, precision=3, doc='detector gain'),
    Record('FrameType', 'mbbo', 0, rbv=True,
           enum_strings=('Normal', 'Background', 'FlatField', 'DblCorrelation'),
           doc='frame type'),
    Record('ImageMode', 'mbbo', 2, rbv=True, enum_strings=('Single', 'Multiple', 'Continuous'),
           doc='acquisition mode'),
    Record('TriggerMode', 'mbbo', 0, rbv=True, enum_strings=('Internal', 'External'),
           doc='trigger mode'),
    Record('NumExposures', 'longout', 1, rbv=True, doc='number of exposures per image'),
    Record('NumExposuresCounter_RBV', 'longin', 0, doc='exposures acquired in this image'),
    Record('NumImages', 'longout', 1, rbv=True, doc='number of images (Multiple mode)'),
    Record('NumImagesCounter_RBV', 'longin', 0, doc='images acquired'),
    Record('DetectorState_RBV', 'mbbi', 0, enum_strings=DETECTOR_STATES,
           severities=('NO_ALARM',) * 5 + ('MINOR', 'MAJOR', 'NO_ALARM', 'NO_ALARM', 'INVALID', 'MINOR'),
           doc='detector state'),
    Record('StatusMessage_RBV', 'waveform', '', ftvl='CHAR', nelm=256, doc='status message'),
    Record('StringToServer_RBV', 'waveform', '', ftvl='CHAR', nelm=256,
           doc='last string sent to a detector server'),
    Record('StringFromServer_RBV', 'waveform', '', ftvl='CHAR', nelm=256,
           doc='last string received from a detector server'),
    Record('ReadStatus', 'bo', 1, doc='force a read of the detector status'),
    Record('ShutterMode', 'mbbo', 0, rbv=True,
           enum_strings=('None', 'EPICS PV', 'Detector output'),
           rbv_enum_strings=('None', 'EPICS PV', 'Camera output'),
           doc='shutter mode (ShutterMode_RBV state 2 reads "Camera output")'),
    Record('ShutterControl', 'bo', 0, rbv=True, enum_strings=('Close', 'Open'),
           doc='open/close the shutter'),
    Record('ShutterStatus_RBV', 'bi', 0, enum_strings=('Closed', 'Open'), severities=OK_MINOR,
           doc='shutter status from the detector'),
    Record('ShutterOpenDelay', 'ao', 0.0, rbv=True, precision=3, doc='shutter open delay'),
    Record('ShutterCloseDelay', 'ao', 0.0, rbv=True, precision=3, doc='shutter close delay'),
    Record('ShutterControlEPICS', 'bi', 0, enum_strings=('Closed', 'Open'), severities=OK_MINOR,
           doc='changes state when the driver opens/closes an EPICS shutter'),
    Record('ShutterFanout', 'fanout', 0,
           doc='fanout record: processes ShutterOpenEPICS and ShutterCloseEPICS'),
    Record('ShutterOpenEPICS', 'calcout', 1.0,
           doc='calcout record: writes OCAL=1 to the shutter PV in OUT'),
    Record('ShutterCloseEPICS', 'calcout', 0.0,
           doc='calcout record: writes OCAL=0 to the shutter PV in OUT'),
    Record('ShutterStatusEPICS_RBV', 'mbbi', 0, enum_strings=('Closed', 'Open'), severities=OK_MINOR,
           doc='EPICS shutter status, read from the PV in INP'),
    Record('Temperature', 'ao', 25.0, rbv=True, units='C', precision=1,
           doc='detector temperature setpoint'),
    Record('TemperatureActual', 'ai', 25.0, units='C', precision=1,
           doc='actual detector temperature'),
    Record('AsynIO', 'asyn', 0, doc='asyn record (placeholder)'),
)

# simDetector.template additions (ADSimDetector).  The template redefines the ColorMode menu
# (Mono, RGB1, RGB2, RGB3 with raw values 0, 2, 3, 4): over CA the menu is those four strings.
SIM_DETECTOR: tuple[Record, ...] = (
    Record('ColorMode', 'mbbo', 0, rbv=True, enum_strings=('Mono', 'RGB1', 'RGB2', 'RGB3'),
           doc='color mode (simDetector menu)'),
    Record('GainX', 'ao', 1.0, rbv=True, precision=2, doc='simulation gain X'),
    Record('GainY', 'ao', 1.0, rbv=True, precision=2, doc='simulation gain Y'),
    Record('GainRed', 'ao', 1.0, rbv=True, precision=2, doc='simulation gain red'),
    Record('GainGreen', 'ao', 1.0, rbv=True, precision=2, doc='simulation gain green'),
    Record('GainBlue', 'ao', 1.0, rbv=True, precision=2, doc='simulation gain blue'),
    Record('Reset', 'longout', 0, rbv=True, doc='reset the simulated image'),
    Record('Offset', 'ao', 0.0, rbv=True, precision=1, doc='simulation offset'),
    Record('Noise', 'ao', 0.0, rbv=True, precision=1, doc='simulation noise'),
    Record('SimMode', 'mbbo', 0, rbv=True,
           enum_strings=('LinearRamp', 'Peaks', 'Sine', 'Offset&Noise'),
           doc='simulation mode'),
    Record('PeakStartX', 'longout', 1, rbv=True, doc='peak mode: first peak X'),
    Record('PeakStartY', 'longout', 1, rbv=True, doc='peak mode: first peak Y'),
    Record('PeakNumX', 'longout', 1, rbv=True, doc='peak mode: number of peaks X'),
    Record('PeakNumY', 'longout', 1, rbv=True, doc='peak mode: number of peaks Y'),
    Record('PeakStepX', 'longout', 1, rbv=True, doc='peak mode: peak spacing X'),
    Record('PeakStepY', 'longout', 1, rbv=True, doc='peak mode: peak spacing Y'),
    Record('PeakWidthX', 'longout', 10, rbv=True, doc='peak mode: peak width X'),
    Record('PeakWidthY', 'longout', 20, rbv=True, doc='peak mode: peak width Y'),
    Record('PeakVariation', 'ao', 0.0, rbv=True, precision=1,
           doc='peak mode: peak height variation'),
    Record('XSineOperation', 'mbbo', 0, rbv=True, enum_strings=('Add', 'Multiply'),
           doc='sine mode: combine X sines'),
    Record('XSine1Amplitude', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: X sine 1 amplitude'),
    Record('XSine1Frequency', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: X sine 1 frequency'),
    Record('XSine1Phase', 'ao', 0.0, rbv=True, precision=2, doc='sine mode: X sine 1 phase'),
    Record('XSine2Amplitude', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: X sine 2 amplitude'),
    Record('XSine2Frequency', 'ao', 2.0, rbv=True, precision=2, doc='sine mode: X sine 2 frequency'),
    Record('XSine2Phase', 'ao', 90.0, rbv=True, precision=2, doc='sine mode: X sine 2 phase'),
    Record('YSineOperation', 'mbbo', 0, rbv=True, enum_strings=('Add', 'Multiply'),
           doc='sine mode: combine Y sines'),
    Record('YSine1Amplitude', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: Y sine 1 amplitude'),
    Record('YSine1Frequency', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: Y sine 1 frequency'),
    Record('YSine1Phase', 'ao', 0.0, rbv=True, precision=2, doc='sine mode: Y sine 1 phase'),
    Record('YSine2Amplitude', 'ao', 1.0, rbv=True, precision=2, doc='sine mode: Y sine 2 amplitude'),
    Record('YSine2Frequency', 'ao', 2.0, rbv=True, precision=2, doc='sine mode: Y sine 2 frequency'),
    Record('YSine2Phase', 'ao', 90.0, rbv=True, precision=2, doc='sine mode: Y sine 2 phase'),
)

# NDPluginBase.template (includes NDArrayBase.template).  PortName_RBV and PluginType_RBV are
# per plugin (e.g. TIFF1/NDFileTIFF, IMAGE1/NDPluginStdArrays, STATS1/NDPluginStats): the
# values below are the template's, for the IOC to replace.
ND_PLUGIN_BASE: tuple[Record, ...] = _nd_array_base({}) + (
    Record('PluginType_RBV', 'stringin', 'Unknown', doc='type of plugin'),
    Record('NDArrayPort', 'stringout', 'SIM1', rbv=True,
           doc='asyn port of the NDArray source (VAL is $(NDARRAY_PORT))'),
    Record('NDArrayAddress', 'longout', 0, rbv=True,
           doc='asyn address of the NDArray source (VAL is $(NDARRAY_ADDR=0))'),
    Record('EnableCallbacks', 'bo', 0, rbv=True, enum_strings=DISABLE_ENABLE, rbv_severities=OK_MINOR,
           doc='enable callbacks (VAL is $(ENABLED=0))'),
    Record('MinCallbackTime', 'ao', 0.0, rbv=True, units='s', precision=3,
           doc='minimum time between callbacks'),
    Record('MaxArrayRate', 'ao', 0.0, rbv=True, units='Hz', precision=3, rbv_record='calc',
           doc='soft ao setting MinCallbackTime=1/rate (MaxArrayRate_RBV is a calc)'),
    Record('MaxArrayRate_COUT', 'calcout', 0.0, doc='writes 1/MaxArrayRate to MinCallbackTime'),
    Record('MaxByteRate', 'ao', 0.0, rbv=True, units='s', precision=3,
           doc='maximum output byte rate (EGU "s" as in the template)'),
    Record('ExecutionTime_RBV', 'ai', 0.0, units='ms', precision=3,
           doc='last execution time of the plugin'),
    Record('ProcessPlugin', 'bo', 1, doc='execute the plugin again with the same NDArray'),
    Record('BlockingCallbacks', 'bo', 0, rbv=True, enum_strings=NO_YES,
           doc='callbacks block or not'),
    Record('DroppedArrays', 'longout', 0, rbv=True, doc='arrays dropped'),
    Record('QueueSize', 'longout', QSIZE, rbv=True, doc='input queue size'),
    Record('QueueFreeLow', 'calcout', QSIZE * 0.25,
           doc='calcout record: sets QueueFree.LOW to 25% of QueueSize'),
    Record('QueueUseHIGH', 'calcout', QSIZE * 0.75,
           doc='calcout record: sets QueueUse.HIGH to 75% of QueueSize'),
    Record('QueueUseHIHI', 'calcout', QSIZE * 1.0,
           doc='calcout record: sets QueueUse.HIHI to QueueSize'),
    Record('QueueFree', 'longin', QSIZE, doc='free places in the input queue'),
    Record('QueueUse', 'calc', 0.0, doc='calc record: fill level of the input queue'),
    Record('NumThreads', 'longout', 1, rbv=True, doc='number of plugin threads'),
    Record('MaxThreads_RBV', 'longin', 1, doc='maximum number of plugin threads'),
    Record('SortMode', 'mbbo', 0, rbv=True, enum_strings=('Unsorted', 'Sorted'),
           doc='output array sorting'),
    Record('SortTime', 'ao', 0.1, rbv=True, precision=3, doc='sort time'),
    Record('SortSize', 'longout', 20, rbv=True, doc='sort list size'),
    Record('SortFree', 'longin', 20, doc='free places in the sort list'),
    Record('SortFreeLow', 'calcout', 5.0, doc='calcout record: sets SortFree.LOW to 25% of SortSize'),
    Record('DroppedOutputArrays', 'longout', 0, rbv=True, doc='output arrays dropped'),
    Record('DisorderedArrays', 'longout', 0, rbv=True, doc='arrays out of order'),
    Record('AsynIO', 'asyn', 0, doc='asyn record (placeholder)'),
)

# NDFile.template
ND_FILE: tuple[Record, ...] = (
    Record('FilePath', 'waveform', '', rbv=True, ftvl='CHAR', nelm=256, doc='file path'),
    Record('FilePathExists_RBV', 'bi', 0, enum_strings=NO_YES, severities=('MAJOR', 'NO_ALARM'),
           doc='file path exists (No is a MAJOR alarm)'),
    Record('CreateDirectory', 'longout', 0, rbv=True,
           doc='directories to create: 0 none, <0 at most |n|, >0 at least n must exist'),
    Record('FileName', 'waveform', '', rbv=True, ftvl='CHAR', nelm=256, doc='file name'),
    Record('FileNumber', 'longout', 1, rbv=True, doc='file number'),
    # not in current ADCore: FileNumber_Sync and FileNumber_write are in NDFile.template of
    # ADCore R2 (fbd61f07), where FileNumber wrote through FileNumber_write and
    # FileNumber_RBV was copied back to FileNumber by FileNumber_Sync; ophyd references both.
    Record('FileNumber_Sync', 'longout', 1,
           doc='copies FileNumber_RBV to FileNumber (ADCore R2 NDFile.template)'),
    Record('FileNumber_write', 'longout', 1,
           doc='writes FileNumber to the driver (ADCore R2 NDFile.template)'),
    Record('AutoIncrement', 'bo', 1, rbv=True, enum_strings=NO_YES,
           doc='auto-increment the file number'),
    # The template gives no start-up value (beamlines restore one with autosave); this IOC
    # starts with the one NDPluginFile's documentation uses, so a first frame has a name.
    Record('FileTemplate', 'waveform', '%s%s_%3.3d.tif', rbv=True, ftvl='CHAR', nelm=256,
           doc='file name template (C format of path, name, number)'),
    Record('FullFileName_RBV', 'waveform', '', ftvl='CHAR', nelm=512,
           doc='full file name, including path'),
    Record('AutoSave', 'bo', 0, rbv=True, enum_strings=NO_YES, doc='save each array'),
    Record('WriteFile', 'busy', 0, rbv=True, enum_strings=('Done', 'Write'), rbv_severities=OK_MINOR,
           rbv_enum_strings=('Done', 'Writing'),
           doc='busy record: write file (WriteFile_RBV menu: Done/Writing)'),
    Record('ReadFile', 'busy', 0, rbv=True, enum_strings=('Done', 'Read'), rbv_severities=OK_MINOR,
           rbv_enum_strings=('Done', 'Reading'),
           doc='busy record: read file (ReadFile_RBV menu: Done/Reading)'),
    Record('FileFormat', 'mbbo', 0, rbv=True, enum_strings=('Undefined', 'Invalid'),
           rbv_enum_strings=('netCDF', 'Undefined'),
           doc='file data format (FileFormat_RBV menu: netCDF/Undefined)'),
    Record('FileWriteMode', 'mbbo', 0, rbv=True, enum_strings=('Single', 'Capture', 'Stream'),
           doc='file save mode'),
    Record('Capture', 'busy', 0, rbv=True, enum_strings=('Done', 'Capture'), rbv_severities=OK_MINOR,
           rbv_enum_strings=('Done', 'Capturing'),
           doc='busy record: capture data (Capture_RBV menu: Done/Capturing)'),
    Record('NumCapture', 'longout', 1, rbv=True, doc='number of arrays to capture'),
    Record('NumCaptured_RBV', 'longin', 0, doc='number of arrays captured'),
    Record('FreeCapture', 'bo', 0, enum_strings=('Done', 'Free'), doc='free the capture buffer'),
    Record('DeleteDriverFile', 'bo', 0, rbv=True, enum_strings=NO_YES,
           doc="delete the driver's original file"),
    Record('WriteStatus', 'bi', 0, enum_strings=('Write OK', 'Write error'), severities=('NO_ALARM', 'MAJOR'),
           doc='status of the last write (error is a MAJOR alarm)'),
    Record('WriteMessage', 'waveform', '', ftvl='CHAR', nelm=256,
           doc='message of the last write'),
    Record('LazyOpen', 'bo', 0, rbv=True, enum_strings=NO_YES,
           doc='defer opening the file to the first array'),
    Record('TempSuffix', 'stringout', '', rbv=True, doc='temporary file name suffix'),
)

# NDFileTIFF.template: includes NDFile.template and NDPluginBase.template and only
# redefines the FileFormat menu.
ND_FILE_TIFF: tuple[Record, ...] = (
    Record('FileFormat', 'mbbo', 0, rbv=True, enum_strings=('TIFF', 'Invalid'),
           rbv_enum_strings=('TIFF', 'Undefined'),
           doc='file data format, replaces NDFile.template (FileFormat_RBV menu: TIFF/Undefined)'),
)

# NDStdArrays.template (includes NDPluginBase.template)
ND_STD_ARRAYS: tuple[Record, ...] = (
    Record('ArrayData', 'waveform', (), ftvl='LONG', nelm=NELEMENTS,
           doc='array waveform data (FTVL LONG for $(TYPE)=Int32; NELM $(NELEMENTS), '
               'the sensor size set at start-up)'),
)

_TS = 'time series (NELM is $(NCHANS))'

# NDStats.template (includes NDPluginBase.template)
ND_STATS: tuple[Record, ...] = (
    Record('ComputeStatistics', 'bo', 1, rbv=True, enum_strings=NO_YES, rbv_severities=OK_MINOR,
           doc='compute the basic statistics'),
    Record('BgdWidth', 'longout', 1, rbv=True, doc='background width'),
    Record('MinValue', 'ao', 0.0, rbv=True, doc='minimum value'),
    Record('MaxValue', 'ao', 0.0, rbv=True, doc='maximum value'),
    Record('MeanValue', 'ao', 0.0, rbv=True, doc='mean value'),
    Record('SigmaValue', 'ao', 0.0, doc='sigma (its readback is Sigma_RBV)'),
    Record('Sigma_RBV', 'ai', 0.0, precision=1, doc='sigma'),
    Record('Total', 'ao', 0.0, rbv=True, doc='total'),
    Record('Net', 'ao', 0.0, rbv=True, doc='net (total minus background)'),
    Record('MinX', 'ao', 0.0, rbv=True, doc='X of the minimum'),
    Record('MinY', 'ao', 0.0, rbv=True, doc='Y of the minimum'),
    Record('MaxX', 'ao', 0.0, rbv=True, doc='X of the maximum'),
    Record('MaxY', 'ao', 0.0, rbv=True, doc='Y of the maximum'),
    Record('ComputeCentroid', 'bo', 0, rbv=True, enum_strings=NO_YES, rbv_severities=OK_MINOR,
           doc='compute the centroid statistics'),
    Record('CentroidThreshold', 'ao', 1.0, rbv=True, doc='centroid threshold'),
    Record('CentroidTotal', 'ao', 0.0, rbv=True, doc='total above threshold (R3 series)'),
    Record('CentroidX', 'ao', 0.0, rbv=True, rbv_precision=1, doc='centroid X'),
    Record('CentroidY', 'ao', 0.0, rbv=True, rbv_precision=1, doc='centroid Y'),
    Record('SigmaX', 'ao', 0.0, rbv=True, rbv_precision=1, doc='sigma X'),
    Record('SigmaY', 'ao', 0.0, rbv=True, rbv_precision=1, doc='sigma Y'),
    Record('SigmaXY', 'ao', 0.0, rbv=True, rbv_precision=3, doc='sigma XY'),
    Record('SkewX', 'ao', 0.0, rbv=True, rbv_precision=3, doc='skewness X (R3 series)'),
    Record('SkewY', 'ao', 0.0, rbv=True, rbv_precision=3, doc='skewness Y (R3 series)'),
    Record('KurtosisX', 'ao', 0.0, rbv=True, rbv_precision=3, doc='kurtosis X (R3 series)'),
    Record('KurtosisY', 'ao', 0.0, rbv=True, rbv_precision=3, doc='kurtosis Y (R3 series)'),
    Record('Eccentricity', 'ao', 0.0, rbv=True, rbv_precision=3, doc='eccentricity (R3 series)'),
    Record('Orientation', 'ao', 0.0, rbv=True, rbv_precision=3, doc='orientation (R3 series)'),
    # not in current ADCore: the time-series control records below are in NDStats.template
    # of ADCore R2 (7906b925); R3 moved them to the NDTimeSeries plugin (Stats1:TS:TSAcquire,
    # TSNumPoints, ...); ophyd's StatsPlugin still references them at Stats1:.
    Record('TSControl', 'mbbo', 0, enum_strings=('Erase/Start', 'Start', 'Stop', 'Read'),
           doc='time series control (ADCore R2 NDStats.template)'),
    Record('TSRead', 'longout', 3,
           doc='pokes TSControl with 3 (Read) every second while acquiring (ADCore R2)'),
    Record('TSNumPoints', 'longout', NCHANS,
           doc='time series length, VAL/DRVH $(NCHANS) (ADCore R2)'),
    Record('TSCurrentPoint', 'longin', 0, doc='current time series point (ADCore R2)'),
    Record('TSAcquiring', 'bi', 0, enum_strings=('Done', 'Acquiring'),
           doc='time series acquiring (ADCore R2)'),
    Record('TSMinValue', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MinValue {_TS}'),
    Record('TSMinX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MinX {_TS}'),
    Record('TSMinY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MinY {_TS}'),
    Record('TSMaxValue', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MaxValue {_TS}'),
    Record('TSMaxX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MaxX {_TS}'),
    Record('TSMaxY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MaxY {_TS}'),
    Record('TSMeanValue', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'MeanValue {_TS}'),
    Record('TSSigma', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'Sigma {_TS}'),
    Record('TSTotal', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'Total {_TS}'),
    Record('TSNet', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'Net {_TS}'),
    Record('TSCentroidTotal', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'CentroidTotal {_TS} (R3 series)'),
    Record('TSCentroidX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'CentroidX {_TS}'),
    Record('TSCentroidY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'CentroidY {_TS}'),
    Record('TSSigmaX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'SigmaX {_TS}'),
    Record('TSSigmaY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'SigmaY {_TS}'),
    Record('TSSigmaXY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'SigmaXY {_TS}'),
    Record('TSSkewX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'SkewX {_TS} (R3 series)'),
    Record('TSSkewY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS, doc=f'SkewY {_TS} (R3 series)'),
    Record('TSKurtosisX', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'KurtosisX {_TS} (R3 series)'),
    Record('TSKurtosisY', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'KurtosisY {_TS} (R3 series)'),
    Record('TSEccentricity', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'Eccentricity {_TS} (R3 series)'),
    Record('TSOrientation', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'Orientation {_TS} (R3 series)'),
    Record('TSTimestamp', 'waveform', (), ftvl='DOUBLE', nelm=NCHANS,
           doc=f'time stamp {_TS} (R3 series)'),
    Record('ComputeProfiles', 'bo', 0, rbv=True, enum_strings=NO_YES, rbv_severities=OK_MINOR, doc='compute profiles'),
    Record('ProfileSizeX_RBV', 'longin', 0, doc='profile size X'),
    Record('ProfileSizeY_RBV', 'longin', 0, doc='profile size Y'),
    Record('CursorX', 'longout', 256, rbv=True, doc='cursor X for the cursor profiles'),
    Record('CursorY', 'longout', 256, rbv=True, doc='cursor Y for the cursor profiles'),
    Record('CursorVal', 'ai', 0.0, precision=1, doc='value at the cursor'),
    Record('ProfileAverageX_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_X,
           doc='average X profile (NELM $(XSIZE))'),
    Record('ProfileAverageY_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_Y,
           doc='average Y profile (NELM $(YSIZE))'),
    Record('ProfileThresholdX_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_X,
           doc='thresholded X profile (NELM $(XSIZE))'),
    Record('ProfileThresholdY_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_Y,
           doc='thresholded Y profile (NELM $(YSIZE))'),
    Record('ProfileCentroidX_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_X,
           doc='X profile through the centroid (NELM $(XSIZE))'),
    Record('ProfileCentroidY_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_Y,
           doc='Y profile through the centroid (NELM $(YSIZE))'),
    Record('ProfileCursorX_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_X,
           doc='X profile through the cursor (NELM $(XSIZE))'),
    Record('ProfileCursorY_RBV', 'waveform', (), ftvl='DOUBLE', nelm=MAX_SIZE_Y,
           doc='Y profile through the cursor (NELM $(YSIZE))'),
    Record('ComputeHistogram', 'bo', 0, rbv=True, enum_strings=NO_YES, rbv_severities=OK_MINOR,
           doc='compute the histogram'),
    Record('HistSize', 'longout', HIST_SIZE, rbv=True, doc='histogram size'),
    Record('HistMin', 'ao', 0.0, rbv=True, doc='histogram minimum'),
    Record('HistMax', 'ao', 255.0, rbv=True, doc='histogram maximum'),
    Record('HistBelow', 'longout', 0, rbv=True, doc='counts below HistMin (R3 series)'),
    Record('HistAbove', 'longout', 0, rbv=True, doc='counts above HistMax (R3 series)'),
    Record('HistEntropy', 'ao', 0.0, rbv=True, rbv_precision=3, doc='histogram entropy'),
    Record('Histogram_RBV', 'waveform', (), ftvl='DOUBLE', nelm=HIST_SIZE,
           doc='histogram (NELM $(HIST_SIZE))'),
    Record('HistogramX_RBV', 'waveform', (), ftvl='DOUBLE', nelm=HIST_SIZE,
           doc='histogram bin values (NELM $(HIST_SIZE), R3 series)'),
    Record('MaxSizeX', 'longin', 0, doc='ProfileSizeX_RBV, for the cursor HOPR'),
    Record('SetXHOPR', 'dfanout', 0.0, doc='dfanout record: copies MaxSizeX to CursorX.HOPR'),
    Record('MaxSizeY', 'longin', 0, doc='ProfileSizeY_RBV, for the cursor HOPR'),
    Record('SetYHOPR', 'dfanout', 0.0, doc='dfanout record: copies MaxSizeY to CursorY.HOPR'),
    Record('Reset', 'sseq', 0, doc='sseq record: resets the statistics (placeholder)'),
    Record('Reset1', 'sseq', 0, doc='sseq record: resets the statistics (placeholder)'),
    Record('Reset2', 'sseq', 0, doc='sseq record: resets the statistics (R3 series, placeholder)'),
)
