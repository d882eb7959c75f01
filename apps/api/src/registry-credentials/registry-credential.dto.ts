import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';

export class PutRegistryCredentialDto {
  @ApiProperty({ example: 'ci-bot' })
  @IsString({ message: 'username must be a string' }) @MinLength(1, { message: 'username must not be empty' }) @MaxLength(255)
  @Matches(/^[^\u0000-\u001f]*$/, { message: 'username must be printable' })
  username!: string;

  @ApiProperty({ description: 'Stored sealed under GPUBATCH_SECRET_KEY; never returned' })
  @IsString({ message: 'password must be a string' }) @MinLength(1, { message: 'password must not be empty' }) @MaxLength(4096)
  password!: string;
}

export class RegistryCredentialView {
  @ApiProperty({ enum: ['project', 'pool'] }) scope!: string;
  @ApiProperty({ description: 'The project or pool' }) owner!: string;
  @ApiProperty({ example: 'registry.example.com:5000' }) registry!: string;
  @ApiProperty() username!: string;
  @ApiProperty() updatedAt!: string;
}

export class RegistryCredentialListView {
  @ApiProperty({ type: [RegistryCredentialView] }) credentials!: RegistryCredentialView[];
}
