"""The bundled simulated stand: a LOX/methane engine plant and the DAQ firmware that fronts it
with a real Modbus server. CI and anyone without hardware drive the controller against it."""
