"""What every MQTT connection of the daemon shares: TLS, error lines, the reconnect loop.

The MQTT sink (sinks/mqtt.py) and the alarm acknowledgement listener
(alarms/mqtt_ack.py) each hold their own connection; both reconnect through
:func:`reconnect_loop` with the one :class:`~radsurvey.protocols.backoff.Backoff`,
and both describe a failure with :func:`describe_error`, which classifies by
aiomqtt's exception types and the broker's reason codes, never by message text.
Only aiomqtt's public API is used.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from radsurvey.config.sinks import MqttConfig
from radsurvey.protocols.backoff import Backoff

# CONNACK reason codes that mean "who you are is refused" (MQTT 5 §3.2.2.2; paho gives an
# MQTT 3.1.1 return code 4 or 5 as 0x86 / 0x87 too).
BAD_USERNAME_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails.

    paho-mqtt drops the socket of a failed handshake (untrusted broker
    certificate, client certificate refused) without closing it, so every
    reconnect attempt would leave an open socket to the garbage collector.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context_for(m: MqttConfig) -> ssl.SSLContext | None:
    """The TLS context of an ``[mqtt]`` section (None without ``tls``)."""
    if not m.tls:
        return None
    context = ssl.create_default_context(cafile=str(m.ca_file) if m.ca_file else None)
    context.sslsocket_class = _ClosingSSLSocket
    if m.cert_file and m.key_file:
        context.load_cert_chain(str(m.cert_file), str(m.key_file))
    return context


def quiet_client_logger() -> logging.Logger:
    """The logger to give aiomqtt: its errors only.

    aiomqtt warns "There are N pending publish calls" for every publish beyond
    10 in flight; the sink keeps many in flight on purpose, and our own loops
    log connection problems.
    """
    logger = logging.getLogger("radsurvey.mqtt.client")
    logger.setLevel(logging.ERROR)
    return logger


def unwrap(err: BaseException) -> BaseException:
    """The first leaf of an exception group (TaskGroup wraps what its tasks raised)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def refused_identity(err: BaseException) -> bool:
    """The broker's CONNACK refused the client's username/password or its authorisation."""
    if not isinstance(err, aiomqtt.MqttCodeError) or not isinstance(err.rc, ReasonCode):
        return False
    return err.rc.packetType == PacketTypes.CONNACK and err.rc.value in (BAD_USERNAME_OR_PASSWORD, NOT_AUTHORIZED)


def untrusted_certificate(err: BaseException) -> bool:
    """The TLS handshake failed on the broker's certificate (aiomqtt raises MqttError from the ssl error)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def describe_error(err: BaseException, ca_file: Path | None = None) -> str:
    """One line for logs/status; never contains credentials."""
    err = unwrap(err)
    text = str(err) or type(err).__name__
    if refused_identity(err):
        return f"broker refused the credentials ({text}); check username and password_env/password_file"
    if untrusted_certificate(err):
        trusted = f"ca_file {ca_file}" if ca_file else "the system's CA certificates"
        return f"TLS: the broker's certificate is not trusted by {trusted} ({text})"
    return text


async def reconnect_loop(
    session: Callable[[Backoff], Awaitable[bool]],
    backoff: Backoff,
    failed: Callable[[BaseException, float], None],
    *,
    retry_on: tuple[type[BaseException], ...] = (aiomqtt.MqttError,),
) -> None:
    """Run ``session`` until it returns True (done for good); after each failure wait and run it again.

    ``session(backoff)`` connects, resets ``backoff`` once it is connected, and
    works until the connection fails. An exception of ``retry_on`` (or a
    session that returns False) calls ``failed(error, delay)`` and waits
    ``delay`` from the backoff; anything else propagates.
    """
    while True:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # a cancel a library swallowed (sinks/base.py, checkpoint)
            raise asyncio.CancelledError
        try:
            if await session(backoff):
                return
            error: BaseException = aiomqtt.MqttError("session ended")
        except retry_on as err:
            error = err
        delay = backoff.take()
        failed(error, delay)
        await asyncio.sleep(delay)
