"""The accounts service of one app: built in the lifespan from the settings, kept in `app.state.auth`.

It signs people up and in (password or SSO), refreshes and revokes tokens, and picks the vendor
key a user's turn is sent with.
"""

import secrets
from datetime import datetime

import httpx2
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import database
from auth import store
from auth.errors import EmailTaken, Forbidden, NoVendorKey, Unauthorized
from auth.oidc import Identity, OidcVerifier
from auth.passwords import hash_password, verify_password
from auth.rate_limit import FailureLimiter
from auth.tokens import TokenIssuer, TokenPair
from auth.vendor_keys import VendorKeyCipher
from config import Settings
from provider_registry import ProviderRegistry
from providers.base import LLMProvider


class AuthService:
    def __init__(self, settings: Settings, db: database.Database) -> None:
        self.settings = settings
        self.db = db
        self.off = settings.auth_mode == "off"
        # AUTH_MODE=off checks no token; those sign-up hands out then hold for this process only.
        secret = settings.secret_key.get_secret_value() if settings.secret_key else secrets.token_hex(32)
        self.tokens = TokenIssuer(
            secret, settings.access_token_expire_minutes, settings.refresh_token_expire_days
        )
        self.cipher = VendorKeyCipher(settings.encryption_key)
        self.limiter = FailureLimiter(settings.signin_max_failures, settings.signin_failure_window_seconds)
        http = httpx2.AsyncClient(
            timeout=settings.provider_timeout, proxy=settings.http_proxy, trust_env=False
        )
        self.oidc = OidcVerifier(settings.oidc_issuers, http)

    async def aclose(self) -> None:
        await self.oidc.aclose()

    # --- accounts -----------------------------------------------------------------------------

    async def sign_up(self, email: str, password: str) -> tuple[database.User, TokenPair]:
        if not self.settings.allow_signup:
            raise Forbidden("Signing up is turned off on this server (ALLOW_SIGNUP)")
        hashed = await hash_password(password)
        try:
            user = await self.db.run(store.create_account, email.lower(), hashed)
        except IntegrityError:
            raise EmailTaken(f"An account with the email {email} already exists") from None
        return user, await self._open_login(user.id)

    async def sign_in(self, email: str, password: str, address: str) -> tuple[database.User, TokenPair]:
        account = email.lower()
        self.limiter.check(account, address)
        user = await self.db.run(store.user_by_email, account)
        if not await verify_password(password, user.password_hash if user else None) or user is None:
            self.limiter.failed(account, address)
            raise Unauthorized("Wrong email or password")
        self.limiter.succeeded(account)
        return user, await self._open_login(user.id)

    async def sign_in_sso(self, id_token: str) -> tuple[database.User, TokenPair]:
        identity = await self.oidc.verify(id_token)
        user = await self.db.run(self._sso_account, identity)
        return user, await self._open_login(user.id)

    def _sso_account(self, db: Session, identity: Identity) -> database.User:
        """The account of an SSO identity: linked before, found by its verified email, or made now."""
        user = store.sso_user(db, identity.issuer, identity.subject)
        if user is not None:
            return user
        user = store.user_by_email(db, identity.email.lower()) if identity.email else None
        if user is None:
            if not self.settings.allow_signup:
                raise Forbidden("Signing up is turned off on this server (ALLOW_SIGNUP)")
            user = store.create_account(db, identity.email.lower() if identity.email else None, None)
        store.link_sso(db, user.id, identity.issuer, identity.subject)
        return user

    async def _open_login(self, user_id: int) -> TokenPair:
        login_id = secrets.token_urlsafe(24)
        expires = database.utcnow() + self.tokens.refresh_lifetime
        await self.db.run(store.open_login, login_id, user_id, expires)
        return self.tokens.issue(user_id, login_id)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """New tokens for a sign-in that is still open, given its refresh token."""
        claims = self.tokens.decode(refresh_token, "refresh")
        await self.open_login(claims.login_id, claims.user_id)
        return self.tokens.issue(claims.user_id, claims.login_id)

    async def open_login(
        self, login_id: str, user_id: int
    ) -> Row[int, str | None, bool, datetime, datetime | None]:
        """The user (id, email, is_admin) of a sign-in that is neither revoked nor expired."""
        row = await self.db.run_core(store.login_user, login_id)
        if (
            row is None
            or row.id != user_id
            or row.revoked_at is not None
            or row.expires_at <= database.utcnow()
        ):
            raise Unauthorized("The token's sign-in has ended (logged out or expired); sign in again")
        return row

    async def log_out(self, access_token: str) -> None:
        claims = self.tokens.decode(access_token, "access")
        await self.db.run(store.revoke_login, claims.login_id)

    # --- vendor keys --------------------------------------------------------------------------

    async def provider_for(self, user_id: int, provider_id: str, registry: ProviderRegistry) -> LLMProvider:
        """The provider a user's turn is sent through: with their own key if they stored one.

        Without one, the operator's key serves them only if ALLOW_OPERATOR_KEYS (or AUTH_MODE=off).
        """
        known = registry.known(provider_id)
        stored = await self.db.run_core(store.vendor_key, user_id, known.id) if known.key_setting else None
        if stored is not None:
            return registry.with_key(known.id, self.cipher.decrypt(stored))
        if not (self.off or self.settings.allow_operator_keys):
            raise NoVendorKey(
                f"You have no API key of your own for provider '{known.id}': add one with POST /user/keys "
                "(this server does not lend its own keys: ALLOW_OPERATOR_KEYS is off)"
            )
        return await registry.ready(provider_id)
